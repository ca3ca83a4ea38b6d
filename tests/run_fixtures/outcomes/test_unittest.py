import unittest


class TestCaseExample(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.shared = [1]

    def setUp(self):
        self.value = 42

    def test_pass(self):
        self.assertEqual(self.value, 42)
        self.assertEqual(self.shared, [1])

    def test_fail(self):
        self.assertEqual(self.value, 43)

    @unittest.skip("skipped in unittest")
    def test_skipped(self):
        pass

    @unittest.expectedFailure
    def test_expected_failure(self):
        self.assertEqual(1, 2)
