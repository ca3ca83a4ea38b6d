import time


def test_quick():
    pass


def test_sleep_1():
    time.sleep(30)


def test_sleep_2():
    time.sleep(30)
