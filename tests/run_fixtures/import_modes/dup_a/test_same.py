def test_in_a(where):
    assert where == "a"
