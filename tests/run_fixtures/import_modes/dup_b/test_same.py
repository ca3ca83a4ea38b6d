def test_in_b(where):
    assert where == "b"
