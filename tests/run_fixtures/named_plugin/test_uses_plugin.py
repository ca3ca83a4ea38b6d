import pytest


def test_fixture_from_plugin(from_plugin):
    assert from_plugin == "plugin value"


def test_another(from_plugin):
    assert from_plugin.startswith("plugin")


@pytest.mark.not_here
def test_deselected_by_plugin():
    assert False, "the plugin deselects this test"


def test_known_bug():
    assert 1 == 2
