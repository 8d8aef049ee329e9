"""Benchmarks: run each from the repository root as a module, ``python -m bench.<name> --help``; they print
figures and assert nothing."""
