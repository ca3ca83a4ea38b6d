def check_even(value):
    assert value % 2 == 0
