def test_module_name():
    assert __name__ == "test_modname"
