def test_inner(plain_res, log):
    assert "pkg teardown" in log
    assert log.count("plain setup") == 1
