def test_unrelated():
    assert True
