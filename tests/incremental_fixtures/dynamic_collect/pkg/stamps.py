"""A helper that reads the clock and a random source: a module calling it at collection
may collect other ids next time (here it does not)."""
import random
import time


def fresh_seeds():
    return [random.getrandbits(8) >= 0 and time.time() > 0]
