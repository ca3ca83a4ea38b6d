"""pytest-benchmark under --benchmark-disable: each benchmarked call runs once, the
fixture's own errors and warning, and its mark check."""
import pytest


def add(a, b):
    return a + b


def test_called_once(benchmark):
    calls = []

    def f():
        calls.append(1)
        return 3

    assert benchmark(f) == 3
    assert calls == [1]


def test_pedantic(benchmark):
    assert benchmark.pedantic(add, args=(1, 2), rounds=5) == 3


def test_used_twice(benchmark):
    benchmark(add, 1, 2)
    benchmark(add, 1, 2)


def test_not_used(benchmark):
    pass


@pytest.mark.parametrize("n", [1, 2])
def test_param(benchmark, n):
    assert benchmark(add, n, n) == 2 * n


@pytest.mark.benchmark(group="g")
def test_grouped(benchmark):
    assert benchmark(add, 2, 2) == 4


@pytest.mark.benchmark(bogus=1)
def test_bad_mark():
    pass


def test_plain():
    assert add(1, 1) == 2
