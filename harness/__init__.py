"""The harness: connects problems, solvers and metrics; CLI, runner, result store, tables, figures."""
