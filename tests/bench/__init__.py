"""Benchmarks of the real processes next to floors measured in the same run.

Run with `python -m tests.bench` (see docs/performance.md). They print figures; no test
asserts a time.
"""
