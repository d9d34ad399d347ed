"""Benchmarks: every figure a ratio against a reference approach measured in the same run."""
