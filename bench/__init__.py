"""Benchmarks (run as scripts: ``python bench/bench_ingest.py --n 50000``). Not part of the test suite."""
