import pathlib
import time


def test_quick():
    pass


def test_sleep_1():
    # Tells the integration test that the run is under way (and test_quick finished).
    pathlib.Path("sleep_started").write_text("1")
    time.sleep(30)


def test_sleep_2():
    time.sleep(30)
