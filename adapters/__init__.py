"""Readers for each kind of source, and the mapping onto canonical entities."""
