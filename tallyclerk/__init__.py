"""tallyclerk: reconciliation and data-quality engine for logistics systems."""

__version__ = "0.1.0"
