"""Passes on its second attempt: with pytest-rerunfailures' --reruns, one `rerun` report
(letter R) comes before the passing attempt's reports."""
ATTEMPTS = {"n": 0}


def test_flaky():
    ATTEMPTS["n"] += 1
    assert ATTEMPTS["n"] >= 2


def test_steady():
    pass
