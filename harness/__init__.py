"""landau-bench: harness (see README)."""
