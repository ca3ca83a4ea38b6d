import sys

from pkg import calc


def test_add_a():
    assert calc.add(1, 1) == 2


def test_package_binds_its_submodule_a():
    # The package imported calc itself; the session import must not run it twice.
    assert sys.modules["pkg"].calc is sys.modules["pkg.calc"]


def test_fails_a():
    assert calc.add(1, 1) == 3
