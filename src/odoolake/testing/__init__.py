"""Test helpers users can reuse: a ``spark`` pytest fixture on the embedded engine."""
