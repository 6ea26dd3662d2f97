"""Benchmarks (print tables; numbers recorded in the README)."""
