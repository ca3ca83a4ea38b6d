import pytest


@pytest.mark.parametrize("doubled", [1, 2], indirect=True)
def test_function_scoped(doubled):
    assert doubled in (2, 4)


@pytest.mark.parametrize("doubled, plain", [(3, 1), (4, 2)], indirect=["doubled"])
def test_partly_indirect(doubled, plain):
    assert doubled == (plain + 2) * 2


@pytest.mark.parametrize("resource, expected", [("x", "resource-x"), ("y", "resource-y")], indirect=["resource"])
def test_module_scoped_first(resource, expected):
    assert resource == expected


@pytest.mark.parametrize("resource, expected", [("x", "resource-x"), ("y", "resource-y")], indirect=["resource"])
def test_module_scoped_again(resource, expected, setups):
    assert resource == expected
    # The value in use is the last one made: made again when the parameter changed.
    made = [p for kind, p in setups if kind == "resource"]
    assert made[-1] == expected[-1]
