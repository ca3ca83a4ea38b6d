def test_records(record_property):
    record_property("example_key", 1)
    record_property("markup", 'x<y & "z"')


def test_records_and_fails(record_property):
    record_property("k", "v")
    assert "line one\nline two\n" * 3 == "line one\nline 2\n" * 3


def test_plain():
    assert "quoted" == 'not "quoted"'
