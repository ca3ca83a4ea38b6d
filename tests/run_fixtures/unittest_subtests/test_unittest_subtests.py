"""unittest subTest under pytest 9: each subtest is reported on its own, from inside the
test (its progress letter lands in the test's captured output)."""
import unittest


class T(unittest.TestCase):
    def test_all_pass(self):
        for i in range(3):
            with self.subTest(i=i):
                self.assertLess(i, 5)

    def test_one_fails(self):
        for i in range(3):
            with self.subTest("msg", i=i):
                print("checking", i)
                self.assertLess(i, 2)

    def test_skip_in_sub(self):
        with self.subTest(k=1):
            self.skipTest("nope")

    def test_no_subtests(self):
        print("plain")
