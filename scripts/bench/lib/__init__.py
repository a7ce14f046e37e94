"""Helpers for scripts/bench/run.py (the mailproxy vs nginx benchmark)."""
