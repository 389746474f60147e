"""Benchmarks of sellerhub: ``python -m bench`` (``make bench``) prints one JSON line per figure."""
