def test_package_module_name():
    assert __name__ == "pkg.test_named"
