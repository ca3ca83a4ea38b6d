from test_xunit_teardown import LOG


def test_module_teardowns_ran():
    assert LOG == ["setUpModule", "cleanup", "cleanup", "tearDownModule"]
