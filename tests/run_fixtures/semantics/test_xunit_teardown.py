import unittest

LOG = []


def setUpModule():
    LOG.append("setUpModule")


def tearDownModule():
    LOG.append("tearDownModule")


class TestCleanups(unittest.TestCase):
    def setUp(self):
        self.addCleanup(LOG.append, "cleanup")

    def test_first(self):
        self.assertEqual(LOG, ["setUpModule"])

    def test_second(self):
        self.assertEqual(LOG, ["setUpModule", "cleanup"])
