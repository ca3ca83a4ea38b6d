"""`pytest_plugins` makes Python collect the whole session as one unit."""
pytest_plugins = ["tests.helpers"]
