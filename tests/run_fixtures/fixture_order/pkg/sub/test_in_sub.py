def test_sub_first(pkg_res, sub_res, log):
    assert log[-2:] == ["pkg setup", "sub setup"]
    assert log.count("pkg setup") == 1


def test_sub_again(pkg_res, sub_res, log):
    assert log.count("pkg setup") == 1 and log.count("sub setup") == 1
