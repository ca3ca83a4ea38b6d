"""A conftest that shapes the whole session: a computed `collect_ignore` and a custom
collector whose items come from the content of `.case` files."""
import pytest

collect_ignore = []
collect_ignore.append("tests/test_ignored.py")


def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".case":
        return CaseFile.from_parent(parent, path=file_path)


class CaseFile(pytest.File):
    def collect(self):
        for name in self.path.read_text().split():
            yield CaseItem.from_parent(self, name=name)


class CaseItem(pytest.Item):
    def runtest(self):
        assert self.name
