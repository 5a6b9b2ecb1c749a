"""Batch tests."""
