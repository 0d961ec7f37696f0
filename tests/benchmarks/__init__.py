"""Benchmarks: `make bench` runs `tests/benchmarks/run.py`; pytest collects nothing here."""
