"""A warning raised while the module is imported: pytest reports it at collection, under its file:line."""
import warnings

warnings.warn("at import", UserWarning)


def test_plain_x():
    pass
