import pytest


@pytest.fixture(scope="package")
def sub_res(log):
    log.append("sub setup")
    yield "sub"
    log.append("sub teardown")
