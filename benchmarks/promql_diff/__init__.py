"""Differential testing of PromQL: random well-typed queries, two engines, one verdict each.

The harness is independent of kubeprom: it talks to engines through :class:`Engine`
(``answers.py``), so Prometheus over HTTP and kubeprom in process are two implementations
(``prometheus.py``, ``kubeprom_engine.py``). ``generator.py`` writes the queries from the
dataset's schema (``schema.py``); ``compare.py`` decides whether two answers agree;
``run.py`` runs a seeded batch and classifies every disagreement; ``__main__.py`` is the
command (``python -m benchmarks.promql_diff --help``).
"""
