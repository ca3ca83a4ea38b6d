LIMIT = 10


class Config:
    factor = 2


def add(a, b):
    return a + b


def mul(a, b):
    return a * b
