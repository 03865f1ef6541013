"""HTML rendering of runs, trends and batches."""
