"""Throughput benchmarks; ``python -m benchmarks`` runs them all (``nox -s bench``)."""
