import json
import os

from pkg import helpers
from pkg.calc import LIMIT, Config, add, mul


def test_add():
    assert add(1, 2) == 3


def test_mul():
    assert mul(2, 3) == 6


def test_limit():
    assert LIMIT == 10


def test_class_attribute():
    assert Config.factor == 2


def test_env():
    assert os.environ.get("APP_MODE", "a") == "a"


def test_data():
    with open(os.path.join(os.path.dirname(__file__), "data.txt")) as f:
        assert f.read().strip() == "ok"


def test_optional_file():
    assert not os.path.exists(os.path.join(os.path.dirname(__file__), "flag.txt"))


def test_session_fixture(base):
    assert base == 100


def test_json():
    assert json.dumps(1) == "1"


def test_shadowable_import():
    import shadowme

    assert shadowme.VALUE == 1


class TestSetupClass:
    @classmethod
    def setup_class(cls):
        cls.value = helpers.make_value()

    def test_value(self):
        assert self.value == 3


def test_session_fixture_reading_a_file(settings):
    assert settings == "debug"


def test_late_import_first():
    from pkg.late import FLAG

    assert FLAG


def test_late_import_second():
    from pkg.late import FLAG

    assert FLAG
