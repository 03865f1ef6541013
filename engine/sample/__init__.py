"""Deterministic generator of the Harborline sample tenant."""
