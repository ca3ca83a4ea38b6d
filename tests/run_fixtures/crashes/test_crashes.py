"""Tests that kill or hang their worker: each must cost only itself."""
import os
import sys
import time


def test_before():
    pass


def test_segfault():
    print("about to crash")
    import ctypes

    ctypes.string_at(0)


def test_os_exit():
    os._exit(3)


def test_hangs():
    time.sleep(120)


def test_prints_50mb():
    sys.stdout.write("x" * (50 * 1024 * 1024))


def test_after():
    pass
