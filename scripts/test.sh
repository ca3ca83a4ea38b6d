#!/usr/bin/env bash
# Role: run the whole test suite (reference pytest venv setup, fmt, clippy, cargo test); exits non-zero on any failure.
#
# Needs only python3 (with the venv module) and cargo. Creates .venv-test/ in the repository
# root with pytest pinned to the version the compatibility fixtures encode, then runs
#   cargo fmt --all -- --check
#   cargo clippy --all-targets -- -D warnings
#   cargo test --workspace
# with FASTEST_TEST_PYTHON pointing at the venv interpreter (pytest-cov and coverage pinned
# too, for the --cov comparisons).
set -euo pipefail

PYTEST_VERSION="9.0.3"
# The --cov tests compare with pytest-cov on the same coverage.py.
PYTEST_COV_VERSION="7.1.0"
COVERAGE_VERSION="7.13.0"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

VENV="$REPO_ROOT/.venv-test"
PYTHON="$VENV/bin/python"

step() { printf '\n==> %s\n' "$*"; }

if [ -x "$PYTHON" ] && ! "$PYTHON" -c 'import sys' >/dev/null 2>&1; then
    step "removing broken $VENV"
    rm -rf "$VENV"
fi
if [ ! -x "$PYTHON" ]; then
    step "creating $VENV"
    if ! command -v python3 >/dev/null 2>&1; then
        echo "error: python3 not found on PATH; it is needed for the reference pytest" >&2
        exit 1
    fi
    if ! python3 -m venv "$VENV"; then
        echo "error: 'python3 -m venv' failed (on Debian/Ubuntu install python3-venv)" >&2
        rm -rf "$VENV"
        exit 1
    fi
fi

installed="$("$PYTHON" -c 'import importlib.metadata as m
def version(name):
    try:
        return m.version(name)
    except m.PackageNotFoundError:
        return "none"
print(" ".join(version(n) for n in ("pytest", "pytest-cov", "coverage")))')"
wanted="$PYTEST_VERSION $PYTEST_COV_VERSION $COVERAGE_VERSION"
if [ "$installed" != "$wanted" ]; then
    step "installing pytest==$PYTEST_VERSION pytest-cov==$PYTEST_COV_VERSION coverage==$COVERAGE_VERSION into $VENV (found: $installed)"
    "$PYTHON" -m pip install -q --disable-pip-version-check "pytest==$PYTEST_VERSION" \
        "pytest-cov==$PYTEST_COV_VERSION" "coverage==$COVERAGE_VERSION"
fi

# Plugins for tests/plugins.rs (pytest-html, a Django app through pytest-django; and
# pytest-mock, Hypothesis and pytest-asyncio, each alone: the native engine provides
# their fixtures or reproduces their plugin; pytest-benchmark; pytest-rerunfailures, whose
# rerun reports the pytest engine relays with the plugin's status) live in their own directories, put on
# PYTHONPATH only by those tests: installed in the venv they would change the engine
# other tests expect.
install_site() {  # DIR PINS...
    local dir="$1"
    shift
    if [ "$(cat "$dir/.pins" 2>/dev/null)" != "$*" ]; then
        step "installing $* into $dir"
        rm -rf "$dir"
        "$PYTHON" -m pip install -q --disable-pip-version-check --no-deps --target "$dir" "$@"
        echo "$*" > "$dir/.pins"
    fi
}
PLUGINS_SITE="$VENV/plugins-site"
# shellcheck disable=SC2086  # the pins are separate words
install_site "$PLUGINS_SITE" pytest-html==4.2.0 pytest-metadata==3.1.1 pytest-timeout==2.4.0 jinja2==3.1.6 markupsafe==3.0.3 pytest-django==4.14.0 django==5.2.8 asgiref==3.10.0 sqlparse==0.5.3
MOCK_SITE="$VENV/mock-site"
install_site "$MOCK_SITE" pytest-mock==3.17.0
HYPOTHESIS_SITE="$VENV/hypothesis-site"
install_site "$HYPOTHESIS_SITE" hypothesis==6.170.15 sortedcontainers==2.4.0
ASYNCIO_SITE="$VENV/asyncio-site"
install_site "$ASYNCIO_SITE" pytest-asyncio==1.5.0 typing_extensions==4.16.0
BENCHMARK_SITE="$VENV/benchmark-site"
install_site "$BENCHMARK_SITE" pytest-benchmark==5.3.1 py-cpuinfo==9.0.0
RERUN_SITE="$VENV/rerun-site"
install_site "$RERUN_SITE" pytest-rerunfailures==16.1
# pytest 8 (ahead of 9 on PYTHONPATH): the native engine uses pytest's own objects, whose
# internals differ between the two (tests/run_compat.rs `native_engine_matches_pytest_8`).
PYTEST8_SITE="$VENV/pytest8-site"
install_site "$PYTEST8_SITE" pytest==8.3.5

export FASTEST_TEST_PYTHON="$PYTHON"
# No preloader outlives the test projects' runs unless a test asks for one
# (tests/preload.rs); FASTEST_PRELOAD=1 bash scripts/test.sh runs every test with it.
export FASTEST_PRELOAD="${FASTEST_PRELOAD:-0}"
export FASTEST_TEST_PLUGINS_SITE="$PLUGINS_SITE"
export FASTEST_TEST_MOCK_SITE="$MOCK_SITE"
export FASTEST_TEST_HYPOTHESIS_SITE="$HYPOTHESIS_SITE"
export FASTEST_TEST_ASYNCIO_SITE="$ASYNCIO_SITE"
export FASTEST_TEST_BENCHMARK_SITE="$BENCHMARK_SITE"
export FASTEST_TEST_RERUN_SITE="$RERUN_SITE"
export FASTEST_TEST_PYTEST8_SITE="$PYTEST8_SITE"

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

step "cargo test --workspace (FASTEST_TEST_PYTHON=$FASTEST_TEST_PYTHON)"
cargo test --workspace

step "all checks passed"
