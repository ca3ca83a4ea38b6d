"""caplog and the captured-log sections, compared with pytest."""
import logging

import pytest

log = logging.getLogger("app")


@pytest.fixture
def noisy():
    log.warning("from setup")
    yield
    log.warning("from teardown")


def test_records_of_the_call_phase_only(noisy, caplog):
    log.info("hello %s", "world")
    assert [r.getMessage() for r in caplog.records] == ["hello world"]
    assert caplog.record_tuples == [("app", logging.INFO, "hello world")]
    assert [r.getMessage() for r in caplog.get_records("setup")] == ["from setup"]


def test_set_level_and_text(caplog):
    caplog.set_level(logging.ERROR, logger="app")
    log.warning("dropped")
    log.error("kept")
    assert caplog.messages == ["kept"]
    assert "ERROR    app:test_logging.py" in caplog.text


def test_level_restored_after_set_level():
    assert logging.getLogger("app").level == logging.NOTSET


def test_at_level_and_clear(caplog):
    with caplog.at_level(logging.DEBUG, logger="app"):
        log.debug("debugging")
    assert caplog.messages == ["debugging"]
    caplog.clear()
    assert caplog.records == []


def test_ini_level_filters_debug(caplog):
    log.debug("below log_level")
    log.info("at log_level")
    assert caplog.messages == ["at log_level"]


def test_failure_shows_captured_log(noisy):
    log.error("something broke")
    assert False
