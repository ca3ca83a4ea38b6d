"""Docstrings of classes outside the project, for `--collect-only -v`.

Usage: python -m fastest_harness.docs < requests.json
Reads `[[dotted_class, attr_or_null], ...]` and writes, in the same order, what
`inspect.getdoc` gives pytest for them: the class's docstring (its own, else the first
along its MRO but `object`'s), or the first docstring of `attr` along the class's MRO.
`null` where there is none or the class cannot be imported.
"""
import importlib
import inspect
import json
import sys


def find(dotted):
    parts = dotted.split(".")
    if len(parts) == 1:
        parts = ["builtins"] + parts
    for split in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except Exception:
            continue
        try:
            for part in parts[split:]:
                obj = getattr(obj, part)
        except AttributeError:
            return None
        return obj
    return None


def doc(dotted, attr):
    cls = find(dotted)
    if cls is None:
        return None
    if attr is None:
        return inspect.getdoc(cls)
    for base in getattr(cls, "__mro__", (cls,)):
        try:
            text = getattr(base, attr).__doc__
        except AttributeError:
            continue
        if text is not None:
            return inspect.cleandoc(text)
    return None


def main():
    requests = json.load(sys.stdin)
    out = []
    for dotted, attr in requests:
        try:
            out.append(doc(dotted, attr))
        except Exception:
            out.append(None)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
