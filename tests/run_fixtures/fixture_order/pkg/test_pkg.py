def test_pkg_value_outlives_the_subpackage(pkg_res, log):
    # pkg/sub's value ended with its package; pkg's own lives on.
    assert log.count("pkg setup") == 1
    assert log[-1] == "sub teardown"


def test_package_node(package_node):
    assert repr(package_node) == "<Package pkg>"
    assert package_node.nodeid == "pkg"
