"""Which folders can be a workspace root, and the one-line errors for those that cannot (nothing made, no traceback)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from odoolake.config import ROOT_CHARACTERS_REFUSED, SOCKET_IN_ROOT, SOCKET_PATH_LIMIT, WorkspacePaths
from odoolake.errors import WorkspaceRootError
from odoolake.workspace.catalog.store import file_uri
from odoolake.workspace.engine import host
from odoolake.workspace.engine.launcher import start_failure
from odoolake.workspace.frontdoor.tls import COMMON_NAME_LIMIT, ca_common_name

REFUSED = [(c, why) for chars, why in ROOT_CHARACTERS_REFUSED.items() for c in chars]


@pytest.mark.parametrize(("char", "why"), REFUSED, ids=[repr(c) for c, _ in REFUSED])
def test_a_root_holding_a_character_the_engine_cannot_use_is_refused(tmp_path, char, why):
    root = tmp_path / f"lake{char}x"
    with pytest.raises(WorkspaceRootError) as raised:
        WorkspacePaths.from_env(root)
    message = str(raised.value)
    assert message.startswith(f"workspace root {root}: its path holds {char!r}") and why in message
    assert "\n" not in message and "--home or ODOOLAKE_HOME" in message
    assert not root.exists()


@pytest.mark.parametrize("char", ["\n", "\t", "\x7f"])
def test_a_root_holding_a_control_character_is_refused_on_one_printable_line(tmp_path, char):
    root = tmp_path / f"a{char}b"
    with pytest.raises(WorkspaceRootError) as raised:
        WorkspacePaths.from_env(root)
    message = str(raised.value)
    assert message.startswith(f"workspace root {str(root)!r}: its path holds a control character ({char!r})")
    assert message.isprintable()


def test_a_root_is_named_as_the_user_wrote_it_too(tmp_path, monkeypatch):
    (tmp_path / "bad dir").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "bad dir")
    with pytest.raises(WorkspaceRootError) as raised:
        WorkspacePaths.from_env(tmp_path / "link")
    assert str(raised.value).startswith(f"workspace root {tmp_path / 'bad dir'} ({tmp_path / 'link'}): its path holds ' '")
    assert raised.value.given == str(tmp_path / "link") and raised.value.root == str(tmp_path / "bad dir")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(WorkspaceRootError, match=r"^workspace root \S+/my lake \(my lake\): its path holds ' '"):
        WorkspacePaths.from_env("my lake")


def test_a_root_holding_characters_beyond_ascii_is_refused(tmp_path):
    with pytest.raises(WorkspaceRootError, match=r"its path holds 'ñ' 'が' \(not ASCII\), and the engine would keep "
                       r"tables' files beside it"):
        WorkspacePaths.from_env(tmp_path / "Peñaが")


@pytest.mark.parametrize("name", ["o'brien&co", "50+1=@:!$;()", "A-Z_0.9"])
def test_a_root_named_as_people_name_folders_is_accepted(tmp_path, name):
    assert WorkspacePaths.from_env(tmp_path / name).ensure().warehouse.is_dir()


def test_the_socket_under_a_root_may_be_as_long_as_a_unix_socket_allows(tmp_path):
    # the root's own sockets are the longest path the check counts
    assert host.engine_socket(tmp_path).relative_to(tmp_path) == SOCKET_IN_ROOT
    assert len(str(host.front_socket(tmp_path))) <= len(str(host.engine_socket(tmp_path)))
    room = SOCKET_PATH_LIMIT - len(os.fsencode(tmp_path / SOCKET_IN_ROOT)) - 1  # less the separator
    assert room > 10
    longest = tmp_path / ("a" * room)
    WorkspacePaths.from_env(longest)  # exactly at the limit
    with pytest.raises(WorkspaceRootError) as raised:
        WorkspacePaths.from_env(tmp_path / ("a" * (room + 1)))
    assert f"too long for the engine's socket run/engine.sock under it (at most {len(str(longest))} bytes)" in \
        str(raised.value)


def test_a_file_is_not_a_root(tmp_path):
    file = tmp_path / "lake"
    file.write_text("kept")
    with pytest.raises(WorkspaceRootError, match="it is a file, not a folder"):
        WorkspacePaths.from_env(file)
    assert file.read_text() == "kept"


def test_a_folder_that_cannot_be_made_is_named(tmp_path):
    paths = WorkspacePaths.from_env(tmp_path / "lake").ensure()
    (paths.home / "run").write_text("")  # where the engine's folder goes
    with pytest.raises(WorkspaceRootError) as raised:
        paths.make(paths.home / "run" / "inner")
    assert str(raised.value).startswith(f"workspace root {paths.home}: cannot make {paths.home / 'run' / 'inner'}: ")
    assert "Errno" not in str(raised.value)


def test_a_file_url_escapes_only_what_a_url_parser_would():
    assert file_uri("/home/o'brien & co/a+b=c;d@e:f!$(g)*,h|i[j]^k~") == \
        "file:///home/o'brien%20&%20co/a+b=c;d@e:f!$(g)*,h|i[j]^k~"
    assert file_uri("/lake/Peña/50%/q?#{x}`<>\"") == "file:///lake/Pe%C3%B1a/50%25/q%3F%23%7Bx%7D%60%3C%3E%22"


def test_the_workspace_ca_names_its_folder_within_x509s_limit(tmp_path):
    assert ca_common_name(tmp_path / "lake") == "odoolake workspace CA (lake)"
    fits = "f" * (COMMON_NAME_LIMIT - len("odoolake workspace CA ()"))
    assert ca_common_name(tmp_path / fits) == f"odoolake workspace CA ({fits})"
    long = ca_common_name(tmp_path / (fits + "g"))
    assert len(long) == COMMON_NAME_LIMIT and long == f"odoolake workspace CA ({fits[:-3]}...)"
    wide = ca_common_name(tmp_path / ("ñ" * 30))  # two bytes each: cut between characters, never inside one
    assert wide == f"odoolake workspace CA ({'ñ' * 18}...)" and len(wide.encode()) == COMMON_NAME_LIMIT - 1
    for name in (long, wide):
        x509.NameAttribute(NameOID.COMMON_NAME, name)  # cryptography refuses a longer one


def test_a_host_that_failed_to_start_is_reported_by_the_exception_it_ended_with():
    log = ("engine host starting\nTraceback (most recent call last):\n  File \"host.py\", line 1, in main\n"
           "    raise OSError(2)\nOSError: first\n\nDuring handling of the above exception, another exception "
           "occurred:\n\nTraceback (most recent call last):\n  File \"host.py\", line 271, in main\n"
           "RuntimeError: failed to load the application config: invalid type\n")
    assert start_failure(log) == "RuntimeError: failed to load the application config: invalid type"
    assert start_failure("Killed\n") == "Killed"
    assert start_failure("") == "it wrote nothing to its log"


def test_sails_spill_folder_setting_carries_any_root(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "environ", dict(os.environ))
    spill = Path(tmp_path / 'say "lake"' / "tmp")  # a root may not hold it, but the setting must not break on it
    host._configure_sail("http://127.0.0.1:1", "t", spill, 1 << 30, None)
    assert json.loads(os.environ["SAIL_RUNTIME__TEMPORARY_FILES__PATHS"]) == [str(spill)]
