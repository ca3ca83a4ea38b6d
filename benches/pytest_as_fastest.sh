#!/usr/bin/env bash
# Null-test double for the bench scripts: accepts fastest's `--python PY ARGS...` and runs pytest instead.
# Use as `--fastest benches/pytest_as_fastest.sh` to check the harness itself: every row should
# be "identical? yes" with speed-ups of about 1.0x (anything else is harness noise or a bug).
set -euo pipefail
if [ "${1:-}" = "--version" ]; then echo "pytest-as-fastest (harness null test)"; exit 0; fi
[ "${1:-}" = "--python" ] || { echo "usage: $0 --python PY [pytest args...]" >&2; exit 2; }
py=$2; shift 2
mkdir -p .fastest_cache   # so the cold/warm cache handling is exercised
bin=$(dirname "$py")
if [ -x "$bin/pytest" ]; then exec "$bin/pytest" -p no:cacheprovider "$@"; fi
exec "$py" -m pytest -p no:cacheprovider "$@"
