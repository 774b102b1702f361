"""Benchmarks and measurements; not part of the test suite."""
