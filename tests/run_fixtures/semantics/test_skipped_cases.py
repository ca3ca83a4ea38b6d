import unittest


@unittest.skip("whole class")
class TestSkipped(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        raise RuntimeError("setUpClass of a skipped class must not run")

    def test_one(self):
        pass

    def test_two(self):
        pass


@unittest.skipIf(True, "condition true")
class TestSkippedIf(unittest.TestCase):
    def test_x(self):
        raise AssertionError("must not run")


@unittest.skipUnless(True, "condition true: runs")
class TestNotSkipped(unittest.TestCase):
    def test_runs(self):
        self.assertTrue(True)
