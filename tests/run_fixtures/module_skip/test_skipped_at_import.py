# A module that skips itself at import: pytest reports one skip and no items.
import pytest

pytest.importorskip("a_module_that_is_not_installed_anywhere")


def test_never_collected():
    pass
