# Relies on `pkg.sub` having been imported by another test module's import: pytest
# imports every collected module before running the first test.
import pkg


def test_submodule_imported_by_collection():
    assert pkg.sub.VALUE == 1
