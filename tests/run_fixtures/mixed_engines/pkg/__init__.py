from . import calc  # noqa: F401  (imported by its package, as toolz.curried does)
