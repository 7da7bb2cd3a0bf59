"""Mutation checks: small deliberate bugs in the security and tax rules, each of which some test must catch.

    .venv/bin/python scripts/mutation/run.py [--only NAME] [--list]

Each mutation is applied to a copy of ``src/`` in a temporary folder (the working tree is never touched), then
the tests named for it run against that copy. A mutation the tests do not catch "survived": the script lists it
and exits 1. A mutation whose text is no longer in the source is reported as stale (the code moved; update it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str  # under src/odoolake/
    old: str  # exactly once in the file
    new: str
    tests: tuple[str, ...]
    also: tuple[tuple[str, str], ...] = ()  # further (old, new) edits in the same file, e.g. an import


ROLES = "workspace/identity/roles.py"
ATC_TESTS = ("tests/unit/test_atc.py", "tests/unit/test_tax_boundaries.py")
MUTATIONS = (
    # -- security -------------------------------------------------------------------------------------------
    Mutation("roles: DELETE counts as a read", ROLES, 'if method in ("GET", "HEAD"):',
             'if method in ("GET", "HEAD", "DELETE"):', ("tests/unit/test_roles.py",)),
    Mutation("roles: PUT counts as a read", ROLES, 'if method in ("GET", "HEAD"):', 'if method in ("GET", "HEAD", "PUT"):',
             ("tests/unit/test_roles.py",)),
    Mutation("roles: admins may deploy to production", ROLES,
             "if self.production and role != SERVICE_PRINCIPAL and not any(",
             "if self.production and role not in (SERVICE_PRINCIPAL, ADMIN) and not any(", ("tests/unit/test_roles.py",)),
    Mutation("roles: runs/submit is an operation", ROLES, "jobs/(run-now|runs/cancel|runs/cancel-all)$",
             "jobs/(run-now|runs/submit|runs/cancel|runs/cancel-all)$", ("tests/unit/test_roles.py",)),
    Mutation("roles: SQL writes allowed in production", ROLES,
             "        if self.production and role != SERVICE_PRINCIPAL:\n            raise PermissionDenied(f\"This is a "
             "production workspace: {action}",
             "        if False:\n            raise PermissionDenied(f\"This is a production workspace: {action}",
             ("tests/unit/test_roles.py",)),
    Mutation("read-only SQL: a block-list instead of an allow-list", "workspace/sql/readonly.py",
             "if words[0] not in READ_ONLY_START:", "if words[0] in WRITES:", ("tests/unit/test_readonly.py",)),
    Mutation("read-only SQL: several statements allowed", "workspace/sql/readonly.py", "if len(statements) > 1:",
             "if len(statements) > 99:", ("tests/unit/test_readonly.py",)),
    Mutation("tokens: expiry ignored", "workspace/identity/tokens.py", "if expiry != -1 and expiry <= self.clock()",
             "if False and expiry <= self.clock()", ("tests/integration/workspace/test_hostile.py::"
                                                     "test_expired_and_externally_revoked_tokens_stop_working_at_once",)),
    Mutation("tokens: anyone revokes any token", "workspace/identity/tokens.py",
             'if requester is not None and not is_admin and row["user_name"] != requester:', "if False:",
             ("tests/integration/workspace/test_roles.py::test_tokens_are_revoked_only_by_their_owner_or_an_admin",)),
    Mutation("paths: '..' allowed", "workspace/files/paths.py", 'if any(part in ("..", ".") for part in parts)',
             'if any(part in (".",) for part in parts)',
             ("tests/integration/workspace/test_files_and_sql.py::test_workspace_paths_cannot_traverse",)),
    Mutation("paths: symbolic links followed out of the root", "workspace/files/paths.py",
             "if not inside(root, local if follow_last or local == root else local.parent):", "if False:",
             ("tests/integration/workspace/test_hostile.py::test_symbolic_links_never_lead_out_of_dbfs_or_volumes",)),
    Mutation("request bodies: the limit checked 100x too late", "workspace/routes/common.py",
             "        if size > limit:\n", "        if size > limit * 100:\n",
             ("tests/integration/workspace/test_hostile.py::test_oversized_chunked_bodies_are_refused_while_they_stream",)),
    Mutation("JSON: no depth limit", "workspace/routes/common.py", "if depth > MAX_JSON_DEPTH:", "if False:",
             ("tests/integration/workspace/test_hostile.py::"
              "test_deep_json_huge_integers_and_wrong_types_are_400_naming_the_field",)),
    Mutation("secrets: any permission allows everything", "workspace/secrets/store.py",
             "if held is None or PERMISSIONS.index(held) < PERMISSIONS.index(needed):", "if held is None:",
             ("tests/unit/test_secrets_parts.py",)),
    Mutation("secrets: sealed values not bound to their name", "workspace/secrets/crypto.py",
             "AESGCM(key).decrypt(sealed[1:13], sealed[13:], name.encode())",
             "AESGCM(key).decrypt(sealed[1:13], sealed[13:], None)", ("tests/unit/test_secrets_parts.py",)),
    Mutation("redaction: nothing held back between chunks", "workspace/secrets/redaction.py",
             "safe = len(data) - self.redactor.partial_suffix(data)", "safe = len(data)",
             ("tests/unit/test_secrets_parts.py",)),
    Mutation("tasks inherit the server's ODOOLAKE_SECRET_* variables", "workspace/jobs/runner.py",
             "if not k.startswith(ENV_PREFIX) and k != KEY_ENV}", "if k != KEY_ENV}",
             ("tests/integration/workspace/test_secrets.py::"
              "test_every_byte_a_task_writes_is_redacted_and_its_environment_holds_no_secret",)),
    # -- stopping work ----------------------------------------------------------------------------------------
    Mutation("a stopped write is not fenced", "workspace/engine/proxy.py",
             "                fence_table(self.writes, self.label)\n", "                pass\n",
             ("tests/integration/workspace/test_task_interrupt.py::"
              "test_a_stopped_append_never_commits_and_a_rerun_adds_one_copy[cancel]",)),
    Mutation("the fence commits no metadata change", "workspace/engine/fence.py",
             "    table.alter.set_table_properties({FENCE_PROPERTY: value}, raise_if_not_exists=False)\n",
             "    pass\n",
             ("tests/integration/workspace/test_task_interrupt.py::"
              "test_a_fence_alone_keeps_a_running_write_from_committing",)),
    Mutation("the memory watchdog counts a forked child's shared pages twice", "workspace/jobs/processes.py",
             "        proportional = _sum(family, _proportional)\n", "        proportional = resident\n",
             ("tests/unit/test_processes.py::test_a_forked_child_counts_only_the_memory_it_does_not_share",)),
    # -- tax --------------------------------------------------------------------------------------------------
    Mutation("ATC: a new rate starts a day late", "bir/atc.py", "return self.valid_from <= on <= self.valid_to",
             "return self.valid_from < on <= self.valid_to", ATC_TESTS),
    Mutation("ATC: a retired rate ends a day early", "bir/atc.py", "return self.valid_from <= on <= self.valid_to",
             "return self.valid_from <= on < self.valid_to", ATC_TESTS),
    Mutation("ATC: the reduced TWA goods rate is 1%", "bir/atc.py",
             '*_pair("WI158", "WC158", "twa_goods", "0.5",', '*_pair("WI158", "WC158", "twa_goods", "1",',
             ("tests/unit/test_atc.py",)),
    Mutation("TIN: all-same-digit dummy TINs accepted", "bir/tin.py", "if len(set(number)) == 1:", "if False:",
             ("tests/unit/test_tin.py",)),
    Mutation("TIN: five-digit branch codes accepted", "bir/tin.py", "if len(branch) > 4:", "if len(branch) > 5:",
             ("tests/unit/test_tin.py", "tests/unit/test_tax_boundaries.py")),
    Mutation("calendar: Saturday is a working day", "bir/calendar.py", "return day.weekday() < 5 and",
             "return day.weekday() < 6 and", ("tests/unit/bir/test_calendar.py",)),
    Mutation("DAT: tax at the rate rounded half-even", "bir/dat.py",
             "return (Decimal(income) * Decimal(rate) / 100).quantize(CENT, rounding=ROUND_HALF_UP)",
             "return (Decimal(income) * Decimal(rate) / 100).quantize(CENT, rounding=ROUND_HALF_EVEN)",
             ("tests/unit/bir",),
             also=(("from decimal import ROUND_HALF_UP, Decimal",
                    "from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal"),)),
)


def _tests_pass(python: str, src: Path, tests: tuple[str, ...]) -> bool:
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return done.returncode == 0


def run(mutation: Mutation, python: str, baseline: dict[tuple[str, ...], bool]) -> tuple[str, float]:
    """("killed" | "SURVIVED" | "stale" | "baseline fails", seconds) for one mutation, in a fresh copy of src/.

    The tests must pass on the unchanged source first (once per set of tests), so a kill is the mutation's doing.
    """
    started = time.monotonic()
    if mutation.tests not in baseline:
        baseline[mutation.tests] = _tests_pass(python, ROOT / "src", mutation.tests)
    if not baseline[mutation.tests]:
        return "baseline fails", time.monotonic() - started
    with tempfile.TemporaryDirectory(prefix="odoolake-mutant-") as tmp:
        copy = Path(tmp) / "src"
        shutil.copytree(ROOT / "src", copy, ignore=shutil.ignore_patterns("__pycache__"))
        target = copy / "odoolake" / mutation.file
        text = target.read_text()
        if text.count(mutation.old) != 1:
            return "stale", time.monotonic() - started
        text = text.replace(mutation.old, mutation.new, 1)
        for old, new in mutation.also:
            if old not in text:
                return "stale", time.monotonic() - started
            text = text.replace(old, new, 1)
        target.write_text(text)
        killed = not _tests_pass(python, copy, mutation.tests)
        return ("killed" if killed else "SURVIVED"), time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run the mutations whose name contains this text")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.only or args.only.lower() in m.name.lower()]
    if args.list:
        for m in chosen:
            print(f"{m.name}  ({m.file}; {', '.join(m.tests)})")
        return 0
    python = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").is_dir() else sys.executable
    results = []
    baseline: dict[tuple[str, ...], bool] = {}
    for number, mutation in enumerate(chosen, start=1):
        print(f"[{number}/{len(chosen)}] {mutation.name} …", end="", flush=True)
        outcome, seconds = run(mutation, python, baseline)
        results.append((mutation, outcome))
        print(f" {outcome} ({seconds:.0f} s)", flush=True)
    bad = [(m, o) for m, o in results if o != "killed"]
    print(f"\n{len(results) - len(bad)} of {len(results)} mutations killed.")
    for mutation, outcome in bad:
        print(f"  {outcome}: {mutation.name} ({mutation.file})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
