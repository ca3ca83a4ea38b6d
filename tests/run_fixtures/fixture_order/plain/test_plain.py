def test_plain(plain_res, log):
    assert log.count("plain setup") == 1
