import pytest


@pytest.fixture(scope="package")
def plain_res(log):
    # plain/ has no __init__.py: no package node matches, so the session holds it.
    log.append("plain setup")
    return "plain"
