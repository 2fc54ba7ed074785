"""landau-bench: metrics (see README)."""
