"""Benchmarks of the middleware's cost against the bare app: ``make bench`` (``QUICK=1`` for a smoke run)."""
