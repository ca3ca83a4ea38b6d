def test_later():
    pass
