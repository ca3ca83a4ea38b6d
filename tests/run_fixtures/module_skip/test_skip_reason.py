import sys

import pytest

if sys.version_info > (3,):
    pytest.skip("needs a Python that does not exist yet", allow_module_level=True)


def test_never_collected():
    pass
