"""Fuzzing the HTTP API with Schemathesis: ``python -m tests.fuzz`` (see ``harness``)."""
