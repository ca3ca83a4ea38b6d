import pytest


@pytest.fixture(scope="package")
def pkg_res(log):
    log.append("pkg setup")
    yield "pkg"
    log.append("pkg teardown")


@pytest.fixture(scope="package")
def package_node(request):
    return request.node
