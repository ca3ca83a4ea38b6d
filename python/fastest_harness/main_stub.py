"""Stands in for `__main__.__file__` in workers (started with `-c`): a program file with
no side effects, which multiprocessing's spawn may run as `__mp_main__`."""
