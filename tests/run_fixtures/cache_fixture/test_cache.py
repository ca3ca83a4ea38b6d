def test_counts_runs(cache, pytestconfig):
    runs = cache.get("fixture/runs", 0)
    cache.set("fixture/runs", runs + 1)
    assert pytestconfig.cache.get("fixture/runs", None) == runs + 1
    # Fails on the first run only: the value is there from the second on.
    assert runs >= 1


def test_makedir(cache):
    d = cache.mkdir("made")
    assert d.is_dir() and d.name == "made"


def test_tmpdir_factory(tmpdir_factory):
    d = tmpdir_factory.mktemp("legacy")
    d.join("f.txt").write("x")
    assert d.join("f.txt").read() == "x"
