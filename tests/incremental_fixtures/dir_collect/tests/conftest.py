"""collect_ignore computed: Python collects this directory."""
collect_ignore = []
collect_ignore.append("test_ignored.py")
