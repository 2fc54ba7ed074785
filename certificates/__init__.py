"""landau-bench: certificates (see README)."""
