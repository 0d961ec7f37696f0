"""`make bench` runs the benchmarks (`python tests/benchmarks/run.py`), never pytest."""

collect_ignore_glob = ["*.py"]
