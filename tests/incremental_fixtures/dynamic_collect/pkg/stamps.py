"""A helper that reads a random source: a module calling it at collection may collect
other ids next time."""
import random


def fresh_seeds():
    return [random.getrandbits(8) >= 0]
