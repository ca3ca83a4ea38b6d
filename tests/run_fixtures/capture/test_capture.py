"""capfd / capfdbinary on the native engine, compared with pytest."""
import os
import sys


def test_capfd_reads_fd_level_output(capfd):
    print("python level")
    os.write(1, b"fd level\n")
    os.write(2, b"fd error\n")
    out, err = capfd.readouterr()
    assert out == "python level\nfd level\n"
    assert err == "fd error\n"


def test_capfd_binary(capfdbinary):
    os.write(1, b"\x00bytes\n")
    assert capfdbinary.readouterr().out == b"\x00bytes\n"


def test_capfd_disabled(capfd):
    with capfd.disabled():
        pass
    sys.stdout.write("after\n")
    assert capfd.readouterr().out == "after\n"


def test_unread_output_is_shown_on_failure(capfd):
    os.write(1, b"left unread\n")
    assert False
