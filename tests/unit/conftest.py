"""Hypothesis without its per-example deadline: a deadline is a timing assertion, and on a
loaded machine (CI, or a mutation run with its tracing) it fails tests that are right."""

from hypothesis import settings

settings.register_profile("unit", deadline=None)
settings.load_profile("unit")
