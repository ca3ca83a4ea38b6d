def never_called():
    value = 1
    return value * 2


def add(a, b):
    return a + b


def clamp(x, low, high):
    if x < low:
        return low
    if x > high:
        return high
    return x


def describe(n):
    parts = []
    for i in range(n):
        if i % 2:
            parts.append("odd")
        else:
            parts.append("even")
    return ",".join(parts)
