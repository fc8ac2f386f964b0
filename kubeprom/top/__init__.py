"""kubectl-top tables computed with PromQL."""
