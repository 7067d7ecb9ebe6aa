"""The Hypothesis settings of the chaos tier's fuzzing tests (a module of its own rather than
a chaos/conftest.py: test_faults.py imports tests/e2e/conftest.py by its basename).

Each example goes through the real API server, so no deadline; no example database (every
run draws afresh, and a shrunk failure is printed, not replayed from disk); the health checks
are off because generating hostile specs and updates is slow and filters much by design.
Use as `@settings(CHAOS_SETTINGS, max_examples=N)`."""

from hypothesis import HealthCheck, settings

CHAOS_SETTINGS = settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))
