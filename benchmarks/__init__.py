"""Benchmarks: each runs parsl-quantum and its baseline in the same run and reports the ratio."""
