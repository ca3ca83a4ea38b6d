"""pytest 9's subtests: each `subtests.test` block reports on its own (SUBPASSED,
SUBFAILED[msg] (i=1)), and the test fails when one of them failed."""


def test_cases(subtests):
    for i in range(3):
        with subtests.test(msg="case", i=i):
            assert i != 1


def test_all_pass(subtests):
    for i in range(2):
        with subtests.test(i=i):
            assert i < 2
