def test_break():
    y = 5
    breakpoint()
    assert y == 6
