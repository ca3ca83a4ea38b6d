def base_value():
    return 100


def make_value():
    return 3
