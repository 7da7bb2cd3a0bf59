"""Checkpointed incremental extraction from Odoo into raw drops that bronze ingests.

For each model, records changed since the checkpoint are read in pages ordered by ``write_date`` then ``id``
(offsets drift under concurrent writes). Odoo keeps ``write_date`` to the microsecond (the transaction's start) but
answers it cut to the second, so a page cannot resume at "this write_date, after this id": each page starts at a
second, and the second a full page ends in is then read whole by id before the next second is (one transaction
stamps all its rows alike: an import of thousands of lines is one second). Reading starts a little before the
checkpoint (``lookback``) because a transaction may commit after a later one was read. A record already delivered
with the same ``write_date`` and the same values is skipped; a second change within the same second is not. A
transaction that commits more than ``lookback`` after it started is not seen (``odoolake odoo extract --lookback``
for long imports).

Moves and lines follow silver's contract: a move that changed is delivered together with all its current lines
in the same batch, because Odoo deletes and re-creates the tax lines of a draft. Moves and partners that
disappeared from Odoo (drafts can be unlinked) become tombstones (``{"id", "_deleted": true}``). This is found by
comparing Odoo's ids with the ids the lake holds. A partner that disappeared was usually merged into another
(Contacts → Merge re-points its moves and lines with plain SQL, leaving their ``write_date`` alone): the moves the
lake holds for it (``moves_of_partners``) are read again by id, with their lines, so that they name the partner
they now belong to.

Atomicity: each model's records are written to ``<model>/_tmp/<batch>.jsonl.part`` and renamed into place
whole. Only after that is the model's checkpoint written, again by rename, to ``_state/odoo_checkpoint.json``.
Lines are committed before moves. If the process dies between the rename and the checkpoint, the next run
takes the checkpoint from the committed file. Either way, a crash leaves neither a gap nor a duplicate.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from odoolake.odoo.client import OdooClient
from odoolake.odoo.errors import OdooError, OdooMissingError
from odoolake.pipeline.schemas import (
    ACCOUNT_MOVE,
    ACCOUNT_MOVE_LINE,
    ACCOUNT_TAX,
    RES_COMPANY,
    RES_CURRENCY_RATE,
    RES_PARTNER,
    RawModel,
)

BATCH_PREFIX = "odoo-extract-"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class ExtractModel:
    raw: RawModel
    context: dict[str, Any] = field(default_factory=dict)
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)  # lake field -> Odoo names, newest first
    detect_deletions: bool = False

    @property
    def odoo(self) -> str:
        return self.raw.odoo_model


# Extraction order; commit order puts lines before moves (see the module docstring).
MODELS: tuple[ExtractModel, ...] = (
    ExtractModel(RES_COMPANY, {"active_test": False}),
    ExtractModel(RES_PARTNER, {"active_test": False}, detect_deletions=True, aliases={
        # Odoo 19 renamed l10n_ph's partner fields (and computes the split names itself)
        "branch_code": ("branch_code", "l10n_ph_branch_code"),
        "first_name": ("first_name", "l10n_ph_first_name", "l10n_ph_first_names"),
        "middle_name": ("middle_name", "l10n_ph_middle_name"),
        "last_name": ("last_name", "l10n_ph_last_name"),
    }),
    ExtractModel(ACCOUNT_TAX, {"active_test": False}),
    ExtractModel(RES_CURRENCY_RATE, detect_deletions=True),  # a wrong rate deleted in Odoo stops converting
    ExtractModel(ACCOUNT_MOVE, aliases={"origin_payment_id": ("origin_payment_id", "payment_id")},
                 detect_deletions=True),
    ExtractModel(ACCOUNT_MOVE_LINE),
)
COMMIT_ORDER = ("res.company", "res.partner", "account.tax", "res.currency.rate", "account.move.line", "account.move")


@dataclass
class ModelCheckpoint:
    write_date: str | None = None
    id: int = 0
    batch: str | None = None
    # id -> fingerprint (``write_date#digest``) of what was delivered inside the look-back window
    recent: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"write_date": self.write_date, "id": self.id, "batch": self.batch, "recent": self.recent}


# The checkpoint's list of partners whose tombstone a run made visible before the moves it read again for them
# (a run stopped between the two files): the next run reads those moves again, whatever bronze holds by then.
REPOINT_OWED = "repoint_owed"


class CheckpointStore:
    """``<raw_root>/_state/odoo_checkpoint.json``, replaced atomically."""

    def __init__(self, raw_dir: Path) -> None:
        self.path = raw_dir / "_state" / "odoo_checkpoint.json"

    def load(self) -> dict[str, ModelCheckpoint]:
        return self.read()[0]

    def owed(self) -> set[int]:
        return self.read()[1]

    def read(self) -> tuple[dict[str, ModelCheckpoint], set[int]]:
        """The models' checkpoints, and the partners merged away whose moves a run has still to read again."""
        if not self.path.is_file():
            return {}, set()
        try:
            data = json.loads(self.path.read_text())
            models = {model: ModelCheckpoint(**value) for model, value in (data.get("models") or {}).items()}
            owed = data.get(REPOINT_OWED) or []
            if not isinstance(owed, list) or not all(isinstance(p, int) and not isinstance(p, bool) for p in owed):
                raise TypeError(f"{REPOINT_OWED} is not a list of partner ids")
            return models, set(owed)
        except (ValueError, TypeError, AttributeError) as exc:
            raise OdooError(f"{self.path}: the extract's checkpoint cannot be read ({exc}); put back a good copy, or "
                            "move it aside to extract everything again (records the lake has are then delivered "
                            "again, and quarantined as repeated deliveries)") from None

    def save(self, checkpoints: dict[str, ModelCheckpoint], owed: set[int] | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")  # a save's own
        tmp.write_text(json.dumps({"models": {m: c.as_dict() for m, c in checkpoints.items()},
                                   REPOINT_OWED: sorted(owed or ()),
                                   "updated_at": datetime.now(UTC).isoformat()}, indent=1))
        os.replace(tmp, self.path)


@dataclass
class ExtractResult:
    batch: str
    rows: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    repointed: int = 0  # moves read again because a partner they named is gone (merged away)


def _key(rec: dict[str, Any]) -> tuple[str, int]:
    return str(rec.get("write_date") or ""), int(rec["id"])


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC; one without a zone is taken as UTC (Odoo's write_date has none), not as local time."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _shift(stamp: str, seconds: float) -> str:
    return (datetime.strptime(stamp[:19], TIME_FORMAT) - timedelta(seconds=seconds)).strftime(TIME_FORMAT)


def fingerprint(lake_record: dict[str, Any]) -> str:
    """``write_date#digest`` of a delivered record: two versions written in the same second differ in the digest
    (Odoo answers ``write_date`` to the second). It sorts by its write_date, as the look-back trim needs."""
    digest = hashlib.sha1(json.dumps(lake_record, sort_keys=True, default=str).encode(), usedforsecurity=False)
    return f"{lake_record.get('write_date') or ''}#{digest.hexdigest()[:16]}"


def _delivered(recent: dict[str, str], lake_record: dict[str, Any]) -> bool:
    """Whether this exact record was delivered already (a checkpoint written before fingerprints holds the
    write_date alone, and is compared by it)."""
    kept = recent.get(str(lake_record["id"]))
    if kept is None:
        return False
    return kept == fingerprint(lake_record) if "#" in kept else kept == lake_record.get("write_date")


@dataclass
class _Staged:
    tmp: Path
    checkpoint: ModelCheckpoint
    count: int


@dataclass
class _Batch:
    """One extraction run: its batch name, clock, checkpoints and what it has staged so far."""

    name: str
    now: datetime
    checkpoints: dict[str, ModelCheckpoint]
    since: str | None
    known_ids: dict[str, set[int]]
    moves_of_partners: Callable[[set[int]], set[int]] | None = None
    gone_partners: set[int] = field(default_factory=set)  # merged away: their moves are read again
    repoint_read: bool = False  # whether this run read the moves of ``gone_partners`` again
    staged: dict[str, _Staged] = field(default_factory=dict)
    result: ExtractResult = field(init=False)

    def __post_init__(self) -> None:
        self.result = ExtractResult(self.name)

    @property
    def owed_after(self) -> set[int]:
        """The partners whose moves are still to be read again once this run's files are all visible."""
        return set() if self.repoint_read else set(self.gone_partners)


class Extractor:
    def __init__(self, client: OdooClient, raw_dir: Path, page_size: int = 2000, lookback_seconds: float = 300,
                 models: tuple[ExtractModel, ...] = MODELS, clock: Callable[[], datetime] | None = None,
                 progress: Callable[[str, int], None] | None = None) -> None:
        self.client = client
        self.raw_dir = raw_dir
        self.page_size = page_size
        self.lookback = lookback_seconds
        self.models = models
        self.clock = clock or (lambda: datetime.now(UTC))
        self.progress = progress
        self.store = CheckpointStore(raw_dir)

    # -- fields ---------------------------------------------------------------------------------------------

    def _fields(self, spec: ExtractModel) -> dict[str, str]:
        """Lake field -> Odoo field, from ``fields_get``; a missing required field stops the run naming it."""
        available = self.client.fields_get(spec.odoo)
        mapping: dict[str, str] = {}
        for name, _ in spec.raw.fields:
            if name == "_deleted":
                continue
            found = next((c for c in spec.aliases.get(name, (name,)) if c in available), None)
            if found is not None:
                mapping[name] = found
            elif name in spec.raw.required:
                raise OdooMissingError(f"{self.client.url}: {spec.odoo} has no field {name!r} (fields_get), which the "
                                       "lake requires; is the accounting module installed and up to date?")
        return mapping

    # -- reading ----------------------------------------------------------------------------------------------

    def _changed(self, spec: ExtractModel, mapping: dict[str, str], cp: ModelCheckpoint,
                 since: str | None) -> Iterator[dict[str, Any]]:
        """Records changed after the checkpoint (or ``since``), minus re-deliveries (a backfill re-delivers). A
        ``since`` later than the checkpoint reads from the checkpoint: the changes between were never read."""
        after_checkpoint = cp.write_date and _shift(cp.write_date, self.lookback)
        start = min(since, after_checkpoint) if since and after_checkpoint else since or after_checkpoint
        for rec in self._pages_from(spec, mapping, start):
            if since or str(rec["id"]) not in cp.recent or not _delivered(cp.recent, self._to_lake(rec, mapping)):
                yield rec

    def _pages_from(self, spec: ExtractModel, mapping: dict[str, str], second: str | None) -> Iterator[dict[str, Any]]:
        """Every record written at or after ``second`` (all when None), each once, in pages."""
        fields = sorted(set(mapping.values()) | {"write_date"})
        context = spec.context or None
        while True:
            domain = [["write_date", ">=", second]] if second else []
            page = self.client.search_read(spec.odoo, domain, fields, limit=self.page_size,
                                           order="write_date asc, id asc", context=context)
            yield from page
            if len(page) < self.page_size:
                return
            last = str(page[-1]["write_date"])[:19]  # the page may end inside this second: read it whole, by id
            held = {rec["id"] for rec in page if str(rec["write_date"])[:19] == last}
            after, following = 0, _shift(last, -1)
            while True:
                within = self.client.search_read(
                    spec.odoo, [["write_date", ">=", last], ["write_date", "<", following], ["id", ">", after]],
                    fields, limit=self.page_size, order="id asc", context=context)
                yield from (rec for rec in within if rec["id"] not in held)
                if len(within) < self.page_size:
                    break
                after = within[-1]["id"]
            second = following

    def _by_ids(self, spec: ExtractModel, ids: list[int], mapping: dict[str, str]) -> Iterator[dict[str, Any]]:
        fields = sorted(set(mapping.values()) | {"write_date"})
        for start in range(0, len(ids), 500):
            yield from self.client.search_read(spec.odoo, [["id", "in", ids[start:start + 500]]], fields,
                                               order="id asc", context=spec.context or None)

    def _lines_of(self, move_ids: list[int], mapping: dict[str, str]) -> Iterator[dict[str, Any]]:
        fields = sorted(set(mapping.values()) | {"write_date"})
        for start in range(0, len(move_ids), 500):
            chunk = move_ids[start:start + 500]
            yield from self.client.search_read("account.move.line", [["move_id", "in", chunk]], fields,
                                               order="id asc")

    @staticmethod
    def _to_lake(rec: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
        return {lake: rec.get(odoo, False) for lake, odoo in mapping.items()} | {"id": rec["id"]}

    # -- one run --------------------------------------------------------------------------------------------

    def run(self, known_ids: dict[str, set[int]] | None = None, since: datetime | None = None,
            moves_of_partners: Callable[[set[int]], set[int]] | None = None) -> ExtractResult:
        """Extract what changed; ``known_ids`` (Odoo model -> ids the lake holds) enables deletion detection, and
        ``moves_of_partners`` (partner ids -> ids of the lake's moves naming them, in the move or a line) the
        re-reading of the moves of partners merged away (see the module docstring). One run at a time into a raw
        folder: a second is refused (two would send the same records twice and race for the checkpoints)."""
        # Odoo is asked first: a run it refuses (no such model or field, a bad key) writes nothing into the folder
        mappings = {spec.odoo: self._fields(spec) for spec in self.models}
        with self._one_run():
            return self._run(mappings, known_ids, since, moves_of_partners)

    def run_against_lake(self, spark: Any, since: datetime | None = None) -> ExtractResult:
        """``run`` for the lake this folder feeds: Odoo compared with bronze and the raw files it has not taken in
        (``LakeView``), so that deletions become tombstones and merged partners' moves are read again. The lake is
        read once the run holds the folder, so another extract's files are either all there or not yet."""
        mappings = {spec.odoo: self._fields(spec) for spec in self.models}
        with self._one_run():
            lake = LakeView(spark, self.raw_dir)
            known = {spec.odoo: lake.ids(spec.raw) for spec in self.models if spec.detect_deletions}
            return self._run(mappings, known, since, lake.moves_of_partners)

    @contextmanager
    def _one_run(self) -> Iterator[None]:
        lock = self.store.path.parent / "extract.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        with lock.open("a") as handle:  # released by the kernel when the file closes, or the process dies
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise OdooError(f"another Odoo extract is running into {self.raw_dir} (it holds {lock}): "
                                "wait for it to end, then run again") from None
            except OSError:  # a file system without locks (a FUSE mount such as /dbfs): runs are not kept apart
                pass
            yield

    def _run(self, mappings: dict[str, dict[str, str]], known_ids: dict[str, set[int]] | None,
             since: datetime | None, moves_of_partners: Callable[[set[int]], set[int]] | None) -> ExtractResult:
        now = self.clock()
        checkpoints, stored_owed = self.store.read()
        batch = _Batch(
            name=f"{BATCH_PREFIX}{now:%Y%m%dT%H%M%S%f}", now=now, checkpoints=self._recovered(checkpoints),
            since=_utc(since).strftime(TIME_FORMAT) if since else None, known_ids=known_ids or {},
            moves_of_partners=moves_of_partners, gone_partners=set(stored_owed),
        )
        try:
            moved: list[int] = []
            for spec in self.models:
                moved = self._read_model(batch, spec, mappings[spec.odoo], moved)
        except BaseException:
            for staged in batch.staged.values():  # nothing of a failed run becomes visible; checkpoints unchanged
                staged.tmp.unlink(missing_ok=True)
            for spec in self.models:
                self._tmp_path(spec, batch.name).unlink(missing_ok=True)
            raise
        try:
            if batch.gone_partners != stored_owed:  # owed before any partner's tombstone can become visible
                stored_owed = set(batch.gone_partners)
                self.store.save(batch.checkpoints, stored_owed)
            for odoo in COMMIT_ORDER:  # everything was read: now make it visible, lines before moves
                ready = batch.staged.get(odoo)
                if ready is None:
                    continue
                staged = ready
                if staged.count:
                    final = staged.tmp.parent.parent / f"{batch.name}.jsonl"
                    os.replace(staged.tmp, final)
                    batch.result.files.append(final)
                    batch.checkpoints[odoo] = staged.checkpoint
                    # a partner's tombstone is visible before the moves read again for it: owed until they are
                    stored_owed = batch.owed_after if odoo == ACCOUNT_MOVE.odoo_model else set(batch.gone_partners)
                    self.store.save(batch.checkpoints, stored_owed)
                else:
                    staged.tmp.unlink()
            if stored_owed != batch.owed_after:
                self.store.save(batch.checkpoints, batch.owed_after)
        finally:  # a commit that failed part-way (a full disk): the files not made visible are not left behind
            for staged in batch.staged.values():
                staged.tmp.unlink(missing_ok=True)
        return batch.result

    def _tmp_path(self, spec: ExtractModel, batch: str) -> Path:
        return self.raw_dir / spec.raw.name / "_tmp" / f"{batch}.jsonl.part"

    def _read_model(self, batch: _Batch, spec: ExtractModel, mapping: dict[str, str], moved: list[int]) -> list[int]:
        """Stage one model's changes (and tombstones) in a part file; returns the ids written (moves: for lines)."""
        cp = batch.checkpoints.get(spec.odoo, ModelCheckpoint())
        tmp = self._tmp_path(spec, batch.name)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        newest: tuple[str, int] | None = (cp.write_date, cp.id) if cp.write_date else None
        count, recent = 0, dict(cp.recent)
        written = cp.write_date or ""  # the newest write_date in this file, read by page or by id
        seen: set[tuple[int, str]] = set()  # (id, write_date): a record changed while the run pages is written again
        with tmp.open("w") as out:
            # (records, whether they move the checkpoint): only the pages by write_date do. Records read by id
            # after them (a moved move's lines, a merged partner's moves) may be newer than records written
            # meanwhile that no page covered; the next run's pages find those, and skip what was delivered here.
            sources: list[tuple[Iterator[dict[str, Any]], bool]] = [(self._changed(spec, mapping, cp, batch.since),
                                                                     True)]
            if spec.odoo == "account.move" and batch.moves_of_partners is not None:
                batch.repoint_read = True
                if batch.gone_partners:
                    repointed = sorted(batch.moves_of_partners(batch.gone_partners))
                    batch.result.repointed = len(repointed)
                    sources.append((self._by_ids(spec, repointed, mapping), False))
            if spec.odoo == "account.move.line" and moved and cp.write_date:
                sources.append((self._lines_of(moved, mapping), False))
            for rec, paged in ((rec, paged) for records, paged in sources for rec in records):
                version = (rec["id"], str(rec.get("write_date") or ""))
                if version in seen:
                    continue
                seen.add(version)
                lake = self._to_lake(rec, mapping)
                out.write(json.dumps(lake) + "\n")
                count += 1
                key = _key(rec)
                if paged and (newest is None or key > newest):
                    newest = key
                written = max(written, key[0])
                recent[str(rec["id"])] = fingerprint(lake)
                if self.progress and count % self.page_size == 0:
                    self.progress(spec.odoo, count)
            if spec.detect_deletions and spec.odoo in batch.known_ids:
                present = set(self.client.search(spec.odoo, [], context={"active_test": False}))
                gone = sorted(batch.known_ids[spec.odoo] - present)
                if spec.odoo == "res.partner":
                    batch.gone_partners |= set(gone)
                # After every version this file holds (one read a moment before its record was deleted may carry
                # this very second): bronze refuses a file repeating (id, write_date), and silver takes the newest.
                stamp = max(batch.now.strftime(TIME_FORMAT), _shift(written, -1) if written else "")
                for record_id in gone:
                    out.write(json.dumps({"id": record_id, "_deleted": True, "write_date": stamp}) + "\n")
                batch.result.deleted[spec.odoo] = len(gone)
                count += len(gone)
        new_cp = ModelCheckpoint(newest[0] if newest else None, newest[1] if newest else 0, batch.name,
                                 self._trim(recent, newest[0] if newest else None))
        batch.staged[spec.odoo] = _Staged(tmp, new_cp, count)
        batch.result.rows[spec.odoo] = count
        return sorted({record_id for record_id, _ in seen}) if spec.odoo == "account.move" else moved

    def _trim(self, recent: dict[str, str], newest: str | None) -> dict[str, str]:
        if newest is None:
            return {}
        floor = _shift(newest, self.lookback)
        return {k: v for k, v in recent.items() if v >= floor}

    def _recovered(self, checkpoints: dict[str, ModelCheckpoint]) -> dict[str, ModelCheckpoint]:
        """A batch renamed into place after the last checkpoint save (a crash in between) is the checkpoint."""
        for spec in self.models:
            folder = self.raw_dir / spec.raw.name
            cp = checkpoints.get(spec.odoo, ModelCheckpoint())
            later = sorted(p for p in folder.glob(f"{BATCH_PREFIX}*.jsonl") if cp.batch is None or p.stem > cp.batch)
            for path in later:
                records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
                keys = [_key(r) for r in records if not r.get("_deleted")]
                recent = dict(cp.recent)
                recent.update({str(r["id"]): fingerprint(r) for r in records if not r.get("_deleted")})
                newest = max([*keys, (cp.write_date, cp.id)] if cp.write_date else keys, default=None)
                cp = ModelCheckpoint(newest[0] if newest else None, newest[1] if newest else 0, path.stem,
                                     self._trim(recent, newest[0] if newest else None))
            if later:
                checkpoints[spec.odoo] = cp
        return checkpoints


def _first_id(value: Any) -> int | None:
    """The id of an Odoo many2one as the raw files hold it (``[id, "name"]``, or ``false`` when empty); Odoo's ids
    are positive, so ``[0, …]`` or ``[false, …]`` name nothing."""
    first = value[0] if isinstance(value, list) and value else None
    return first if isinstance(first, int) and not isinstance(first, bool) and first > 0 else None


@dataclass(frozen=True)
class PartnerReference:
    """Where a model's records name a partner, and the move each record belongs to (``None``: the record is one)."""

    raw: RawModel
    partner_fields: tuple[str, ...]
    move_field: str | None = None


# The records that tie a move to a partner: a merge in Odoo re-points all of them (see the module docstring)
PARTNER_REFERENCES = (PartnerReference(ACCOUNT_MOVE, ("partner_id", "commercial_partner_id")),
                      PartnerReference(ACCOUNT_MOVE_LINE, ("partner_id",), move_field="move_id"))


class LakeView:
    """The lake as one extract compares Odoo with it: bronze, and the raw files bronze has not taken in yet (an
    extract since the last month-end: the lake holds them from the next month-end on, so what Odoo did to them since
    counts as well). Each model's bronze batches are listed once per view; its pending files are read as each
    question asks (streamed: a first load not yet ingested can be millions of records)."""

    def __init__(self, spark: Any, raw_dir: Path) -> None:
        self.spark = spark
        self.raw_dir = raw_dir
        self._pending_files: dict[str, tuple[Path, ...]] = {}

    def pending_files(self, raw: RawModel) -> tuple[Path, ...]:
        """The model's raw files whose batch bronze does not hold, oldest first (by name)."""
        from odoolake.pipeline import bronze, io

        if raw.name not in self._pending_files:
            taken: set[str] = set()
            if io.table_exists(self.spark, raw.bronze_table):
                taken = {r[0] for r in self.spark.table(raw.bronze_table).select("_batch_id").distinct().collect()}
            folder = self.raw_dir / raw.name
            self._pending_files[raw.name] = tuple(sorted(
                p for p in folder.glob("*") if p.name.endswith(bronze.RAW_SUFFIXES) and p.is_file()
                and bronze.batch_of(str(p)) not in taken))
        return self._pending_files[raw.name]

    def _records(self, raw: RawModel) -> Iterator[dict[str, Any]]:
        for path in self.pending_files(raw):
            with path.open(encoding="utf-8", errors="replace") as lines:
                for line in lines:
                    try:
                        rec = json.loads(line)
                    except (ValueError, RecursionError):  # bronze quarantines such a line; it names no record
                        continue
                    if isinstance(rec, dict) and isinstance(rec.get("id"), int):
                        yield rec

    def ids(self, raw: RawModel) -> set[int]:
        """What the lake believes exists in Odoo: ids whose latest bronze version is not a tombstone, then the
        pending files (a record they deliver exists, one they delete does not): a record extracted, then deleted in
        Odoo before a month-end, is deleted in the lake too, and one deleted by an extract is not deleted again by
        every extract before the month-end."""
        from odoolake.pipeline import io

        ids: set[int] = set()
        if io.table_exists(self.spark, raw.bronze_table):
            rows = self.spark.sql(
                f"SELECT id FROM (SELECT id, max_by(coalesce(_deleted, false), write_date) AS gone "
                f"FROM {raw.bronze_table} WHERE _reject IS NULL GROUP BY id) WHERE NOT gone").collect()
            ids = {int(r["id"]) for r in rows}
        for rec in self._records(raw):
            (ids.discard if rec.get("_deleted") else ids.add)(rec["id"])
        return ids

    def moves_of_partners(self, partners: set[int]) -> set[int]:
        """For ``Extractor.run``: the ids of the lake's moves that name any of the given partners, on the move or on
        a line (any version: a move read again that no longer names one is delivered once more, unchanged), in
        bronze or in the pending files (a bill extracted, then its partner merged away before a month-end)."""
        from odoolake.pipeline import io

        if not partners:
            return set()
        listed = ", ".join(str(int(p)) for p in sorted(partners))
        queries = []
        for ref in PARTNER_REFERENCES:
            if io.table_exists(self.spark, ref.raw.bronze_table):
                move_of = f"CAST(element_at({ref.move_field}, 1) AS BIGINT)" if ref.move_field else "id"
                names = " OR ".join(f"CAST(element_at({name}, 1) AS BIGINT) IN ({listed})" for name in ref.partner_fields)
                queries.append(f"SELECT {move_of} AS move FROM {ref.raw.bronze_table} WHERE _reject IS NULL AND ({names})")
        found: set[int] = set()
        if queries:
            rows = self.spark.sql(f"SELECT DISTINCT move FROM ({' UNION ALL '.join(queries)}) WHERE move IS NOT NULL")
            found = {int(r["move"]) for r in rows.collect()}
        for ref in PARTNER_REFERENCES:
            for rec in self._records(ref.raw):
                move = _first_id(rec.get(ref.move_field)) if ref.move_field else rec["id"]
                if move is not None and any(_first_id(rec.get(name)) in partners for name in ref.partner_fields):
                    found.add(move)
        return found
