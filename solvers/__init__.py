"""landau-bench: solvers (see README)."""
