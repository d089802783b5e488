"""Relay benchmark: a fake upstream, a load generator, and nginx for comparison.

Run with `python -m bench` (see `bench/README.md`).
"""
