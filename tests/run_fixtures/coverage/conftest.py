import pytest

from pkg.setup_only import make_config


@pytest.fixture(scope="session")
def config():
    return make_config()
