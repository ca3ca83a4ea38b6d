import pytest


@pytest.mark.parametrize("resource", ["x"], indirect=True)
def test_other_module(resource, setups):
    # A module scope of its own: made again here.
    assert resource == "resource-x"
    # Made anew for this module.
    assert setups[-1] == ("resource", "x")
