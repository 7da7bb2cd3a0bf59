"""The ``odoolake`` command line."""
