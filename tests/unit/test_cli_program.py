"""Commands a message tells people to run are written as they called odoolake (the README calls .venv/bin/odoolake)."""

from __future__ import annotations

import sys

from odoolake.cli.common import program


def test_a_message_names_the_command_as_it_was_called(monkeypatch):
    monkeypatch.setattr(sys, "argv", [".venv/bin/odoolake", "up"])
    assert program() == ".venv/bin/odoolake"
    monkeypatch.setattr(sys, "argv", ["/usr/lib/python3/site-packages/odoolake/cli/main.py", "up"])  # python -m
    assert program() == "odoolake"
