# The rootdir conftest: pytest (prepend import mode) puts the rootdir on sys.path, so
# `pkg` imports however pytest is started.
