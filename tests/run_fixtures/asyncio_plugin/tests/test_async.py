import asyncio

import pytest

from conftest import EVENTS, REQUEST_ID

LOOPS = {}


@pytest.mark.asyncio
async def test_marked_runs():
    await asyncio.sleep(0)
    LOOPS["first"] = asyncio.get_running_loop()


@pytest.mark.asyncio
async def test_each_test_has_its_own_loop():
    assert asyncio.get_running_loop() is not LOOPS["first"]


async def test_unmarked_runs_only_in_auto_mode():
    await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_failing_assert():
    await asyncio.sleep(0)
    assert 1 + 1 == 3


@pytest.mark.asyncio
async def test_async_fixture_and_teardown_order(resource):
    assert resource == "resource"
    assert EVENTS[-1] == "resource up"


def test_fixture_was_torn_down():
    assert EVENTS == ["resource up", "resource down"]


@pytest.mark.asyncio
async def test_context_from_async_fixture(request_id):
    assert REQUEST_ID.get() == request_id


@pytest.mark.asyncio(loop_scope="module")
async def test_module_loop_first():
    LOOPS["module"] = asyncio.get_running_loop()


@pytest.mark.asyncio(loop_scope="module")
async def test_module_loop_shared():
    assert asyncio.get_running_loop() is LOOPS["module"]


@pytest.mark.asyncio
def test_sync_test_marked_asyncio_warns():
    pass


@pytest.mark.asyncio
async def test_async_generator_is_not_run():
    yield


def test_no_current_loop_once_a_runner_closed():
    with pytest.raises(RuntimeError):
        asyncio.get_event_loop()


class TestInClass:
    @pytest.mark.asyncio
    async def test_method(self):
        await asyncio.sleep(0)

    @pytest.mark.asyncio
    @pytest.mark.parametrize("n", [1, 2])
    async def test_parametrized(self, n):
        assert n in (1, 2)
