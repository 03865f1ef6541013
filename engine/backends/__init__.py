"""Engines that run compiled rules: DuckDB embedded by default, Spark for scale."""
