import contextvars

import pytest_asyncio

EVENTS = []
REQUEST_ID = contextvars.ContextVar("request_id", default=None)


@pytest_asyncio.fixture
async def resource():
    EVENTS.append("resource up")
    yield "resource"
    EVENTS.append("resource down")


@pytest_asyncio.fixture
async def request_id():
    # A context variable set in an async fixture is seen by the test.
    REQUEST_ID.set("abc")
    return "abc"
