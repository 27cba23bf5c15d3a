"""Contract suites, one per interface, in fsspec's ``tests/abstract`` style.

A contract is a class of tests written against an interface only (``CacheStoreContract`` over a ``store``
fixture, ``ArtifactStoreContract`` over an ``artifacts`` fixture). Each backend gets a ``Test<Backend>`` class
that inherits the contract and provides the fixtures; pytest collects the backend classes, never the
contracts themselves (their names do not start with ``Test``, and the modules here are not ``test_*.py``).

Where a backend legitimately behaves differently, its class overrides that one test, with a docstring that
says why. A contract test is never skipped for a backend.
"""
