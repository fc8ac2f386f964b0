"""The PromQL evaluator over the promql-parser AST."""
