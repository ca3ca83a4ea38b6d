# The rootdir conftest: puts the rootdir on sys.path so `pkg` imports.
