"""Fault suite: real servers broken on purpose (see conftest.py)."""
