"""The one-pass kernel: results for every subject of a file sorted by subject, in C.

The SQL pipeline (``pipeline``, ``grading``) follows each subject's records in order with
DuckDB windows, and one such window over ten million records costs more than four times the
bare join + filter + group-by the issue sets as the ceiling. A file whose records are sorted by
subject needs no window: a subject's records are adjacent, and ``_kernel.c`` settles them in
one pass, steps 1-13 of ``evaluation`` for one subject at a time, in the processor's cache.
It gives results only (``RESULT_SCHEMA``); contributions are the pipeline's.

Which files: Parquet files whose row groups declare, in their metadata, that they are sorted
by ``subject_kind`` then ``subject_id`` (``sort_records`` writes them). The kernel checks the
order as it goes and stops with ``SourceError`` at the first row out of order: a file that
says it is sorted and is not is refused, never scored wrongly. Within a subject the records
may come in any order.

How it runs: a reader thread decodes the next batch of columns with pyarrow while the kernel,
called through ctypes (which releases the GIL), scores the current one; subjects straddling
two batches are carried over. The rulebook reaches the kernel as integer tables built here
from the same ``Rulebook`` model and the same per-type plans (``evaluation._Plan``) as the
one-subject engine, so nothing is derived twice. Subjects the kernel does not settle itself
(a type with a score condition, tier points beyond exact integers) go to
``scoring.evaluate``, as in the pipeline's exact path.

The kernel is compiled at install (``hatch_build.py``) and stamped with the SHA-256 of the
C source; ``available()`` is false when it is missing or stale, and the pipeline runs instead.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import queue
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from socialcredit import evaluation
from socialcredit.bulk.sources import Source, SourceError
from socialcredit.identifiers import SubjectKind
from socialcredit.records import REQUIRED_FLAT_COLUMNS, SubjectRef
from socialcredit.result import MAX_REASONS
from socialcredit.rulebook.model import Rulebook

SOURCE = Path(__file__).with_name("_kernel.c")
LIBRARY = "_bulk_kernel"
#: Rows decoded at a time; two batches are in memory at once (one read ahead).
BATCH_ROWS = 250_000
#: Batches of at least this many rows are scored on two threads, half each.
SPLIT_ROWS = 100_000
#: Subject kinds in string order: the order the file is sorted in.
KINDS = tuple(sorted(k.value for k in SubjectKind))
SORT_KEY = ("subject_kind", "subject_id")
#: The whole order ``sort_records`` writes (and declares): by subject, then the engine's order.
SORT_ORDER = (*SORT_KEY, "occurred_on", "ref", "provider")
#: Rows per row group of a file ``sort_records`` writes, and its compression.
ROW_GROUP_ROWS = 250_000
SORTED_COMPRESSION = "lz4"
#: Room for a row group's subject ids in one dictionary page (Parquet writers fall back to
#: plain values beyond it, which the kernel then has to dictionary-encode itself).
DICTIONARY_PAGE_BYTES = 16 << 20
#: Columns whose values are (nearly) all different: written plain, never as a dictionary.
UNIQUE_COLUMNS = ("ref", "evidence")
_COLUMNS = (
    "subject_kind",
    "subject_id",
    "type",
    "occurred_on",
    "provider",
    "ref",
    "act",
    "relates_to",
    "amount",
    "quantity",
)
#: Read as dictionaries: few values (kinds, types, providers), or, in a file sorted by
#: subject, one value per subject in a row group (ids): the kernel compares their numbers.
_DICTIONARY = ("subject_kind", "type", "provider", "subject_id", "act", "relates_to")

# Plan flags and table layouts: the enums at the top of _kernel.c.
_F_KNOWN, _F_APPLIES, _F_CORRECTS, _F_NEGATIVE, _F_POSITIVE = 1, 2, 4, 8, 16
_F_REPEATS, _F_HIGHEST, _F_ONLY_IF, _F_TIER_AMOUNT, _F_TIER_QUANTITY = 32, 64, 128, 256, 512
_F_CAPPED = 1024
_P_WIDTH, _B_WIDTH, _L_WIDTH, _R_WIDTH = 14, 5, 6, 5
_MAX_LISTS = 61  # list membership: a bit mask, shifted by two for the kind in ``results``


# -- the compiled library -----------------------------------------------------------------------
def library_path(directory: Path = SOURCE.parent) -> Path:
    suffix = sysconfig.get_config_var("SHLIB_SUFFIX") or ".so"
    return directory / f"{LIBRARY}{suffix}"


class _Strings(ctypes.Structure):
    _fields_ = [
        ("offsets", ctypes.c_void_p),
        ("data", ctypes.c_void_p),
        ("valid", ctypes.c_void_p),
        ("bit_offset", ctypes.c_int64),
        ("indices", ctypes.c_void_p),
    ]


class _Chunk(ctypes.Structure):
    _fields_ = [
        ("n", ctypes.c_int64),
        ("kind_index", ctypes.c_void_p),
        ("kind_map", ctypes.c_void_p),
        ("type_index", ctypes.c_void_p),
        ("type_map", ctypes.c_void_p),
        ("day", ctypes.c_void_p),
        ("amount", ctypes.c_void_p),
        ("quantity", ctypes.c_void_p),
        ("amount_valid", ctypes.c_void_p),
        ("quantity_valid", ctypes.c_void_p),
        ("amount_bit", ctypes.c_int64),
        ("quantity_bit", ctypes.c_int64),
        ("subject", _Strings),
        ("ref", _Strings),
        ("provider", _Strings),
        ("act", _Strings),
        ("relates_to", _Strings),
    ]


class _Rules(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_int64)
        for name in (
            "ntypes",
            "ngrades",
            "nlists",
            "ncaps",
            "ncategories",
            "base",
            "has_min",
            "minimum",
            "has_max",
            "maximum",
            "higher_is_better",
            "repeat_factor",
            "one_act_one_item",
            "frozen_reason",
        )
    ] + [
        (name, ctypes.c_void_p)
        for name in (
            "plans",
            "steps",
            "tier_starts",
            "tier_pers",
            "tier_points",
            "bands",
            "lists",
            "caps",
            "repair_of",
            "repairs",
            "reason_rank",
        )
    ]


class _Out(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_void_p) for name in ("first", "score", "grade", "lists", "reasons", "exact")
    ]


_loaded: ctypes.CDLL | None = None
_load_tried = False


def load(path: Path | None = None, source: Path = SOURCE) -> ctypes.CDLL | None:
    """The compiled kernel if it is installed and was built from ``source`` as it is now."""
    global _loaded, _load_tried
    if path is None and _load_tried:
        return _loaded
    target = path or library_path()
    lib: ctypes.CDLL | None = None
    if target.exists():
        try:
            candidate = ctypes.CDLL(str(target))
        except OSError:
            candidate = None
        if candidate is not None:
            candidate.scs_built_from.restype = ctypes.c_char_p
            built = candidate.scs_built_from().decode()
            if built == hashlib.sha256(source.read_bytes()).hexdigest():
                candidate.scs_score_chunk.restype = ctypes.c_int64
                candidate.scs_score_chunk.argtypes = [
                    ctypes.POINTER(_Chunk),
                    ctypes.POINTER(_Rules),
                    ctypes.c_int64,
                    ctypes.c_int64,
                    ctypes.POINTER(_Out),
                    ctypes.POINTER(ctypes.c_int64),
                ]
                candidate.scs_subject_start.restype = ctypes.c_int64
                candidate.scs_subject_start.argtypes = [ctypes.POINTER(_Chunk), ctypes.c_int64]
                lib = candidate
    if path is None:
        _loaded, _load_tried = lib, True
    return lib


def available() -> bool:
    """Whether a current compiled kernel is installed (``SCS_BULK_KERNEL=0`` turns it off)."""
    return os.environ.get("SCS_BULK_KERNEL", "1") != "0" and load() is not None


# -- the rulebook as tables ---------------------------------------------------------------------
class KernelRules:
    """A rulebook's tables for the kernel, and the strings its numbers stand for."""

    def __init__(self, rb: Rulebook):
        self.rb = rb
        types = list(rb.types)
        index = {code: i for i, code in enumerate(types)}
        self.type_index = index
        categories = sorted(
            {rule.category for rule in rb.types.values()}
            | {cap.category for cap in rb.counting.annual_caps}
        )
        category = {c: i for i, c in enumerate(categories)}
        capped = {cap.category for cap in rb.counting.annual_caps}
        if len(rb.lists) > _MAX_LISTS:
            raise ValueError(f"the kernel keeps at most {_MAX_LISTS} lists")
        list_mask = dict.fromkeys(types, 0)
        for bit, listing in enumerate(rb.lists):
            for code in listing.types:
                if code in list_mask:
                    list_mask[code] |= 1 << bit
        # Reason codes: as ``evaluation`` names them; ranked as strings for the ties.
        self.reason_codes = [f"direct_grade:{c}" for c in types]
        self.reason_codes += [f"points:{c}" for c in types]
        self.reason_codes += [f"repair:{r.code}" for r in rb.repairs]
        self.reason_codes.append("frozen_additions")
        order = sorted(range(len(self.reason_codes)), key=self.reason_codes.__getitem__)
        reason_rank = np.empty(len(order), dtype=np.int64)
        reason_rank[order] = np.arange(len(order))
        ntypes = len(types)

        plans = np.zeros((len(KINDS) * ntypes, _P_WIDTH), dtype=np.int64)
        steps: list[tuple[int, int]] = []
        tier_starts: list[float] = []
        tier_pers: list[float] = []
        tier_points: list[int] = []
        for k, kind in enumerate(KINDS):
            tables = evaluation._tables(rb, SubjectKind(kind))
            for t, code in enumerate(types):
                plan = tables.plans[code]
                rule = rb.types[code]
                flags = _F_KNOWN
                flags |= _F_APPLIES if plan.refusal is None else 0
                flags |= _F_CORRECTS if plan.corrects else 0
                flags |= _F_NEGATIVE if plan.negative else 0
                flags |= _F_POSITIVE if plan.positive else 0
                flags |= _F_REPEATS if plan.repeats else 0
                flags |= _F_HIGHEST if rule.count_highest else 0
                flags |= _F_ONLY_IF if rule.only_if is not None else 0
                flags |= _F_CAPPED if plan.category in capped else 0
                flags |= {"amount": _F_TIER_AMOUNT, "quantity": _F_TIER_QUANTITY}.get(
                    plan.tiers_by or "", 0
                )
                row = plans[k * ntypes + t]
                row[:] = (
                    flags,
                    category[plan.category],
                    plan.base,
                    rb.grade_rank(plan.direct) if plan.direct is not None else -1,
                    plan.own_span if plan.own_span is not None else -1,
                    plan.span if plan.span is not None else -1,
                    len(steps),
                    len(plan.steps),
                    len(tier_starts),
                    len(rule.tiers) if plan.tiers_by is not None else 0,
                    rule.max_points if rule.max_points is not None else -1,
                    list_mask[code],
                    t,
                    ntypes + t,
                )
                steps += [(up_to if up_to is not None else -1, span) for up_to, span in plan.steps]
                if plan.tiers_by is not None:
                    for tier in rule.tiers:
                        tier_starts.append(tier.start)
                        tier_pers.append(tier.per if tier.per is not None else math.nan)
                        tier_points.append(tier.points)
        bands = np.array(
            [
                (
                    band.minimum is not None,
                    band.minimum or 0,
                    band.maximum is not None,
                    band.maximum or 0,
                    rb.direct_grade_cap(band.grade),
                )
                for band in rb.grades
            ],
            dtype=np.int64,
        ).reshape(-1, _B_WIDTH)
        lists = np.array(
            [
                (
                    sum(1 << rb.grade_rank(g) for g in listing.grades),
                    listing.score_range is not None,
                    listing.score_range is not None and listing.score_range[0] is not None,
                    (listing.score_range or (0, 0))[0] or 0,
                    listing.score_range is not None and listing.score_range[1] is not None,
                    (listing.score_range or (0, 0))[1] or 0,
                )
                for listing in rb.lists
            ],
            dtype=np.int64,
        ).reshape(-1, _L_WIDTH)
        caps = np.array(
            [(category[c.category], c.points) for c in rb.counting.annual_caps], dtype=np.int64
        ).reshape(-1, 2)
        repair_of = np.full(ntypes * ntypes, -1, dtype=np.int32)
        for number, repair in reversed(list(enumerate(rb.repairs))):  # the first rule wins
            for ends in repair.ends:
                for by in repair.by:
                    if ends in index and by in index:
                        repair_of[index[ends] * ntypes + index[by]] = number
        repairs = np.array(
            [
                (
                    *(repair.points.get(SubjectKind(kind), 0) for kind in KINDS),
                    repair.validity.span,
                    2 * ntypes + number,
                )
                for number, repair in enumerate(rb.repairs)
            ],
            dtype=np.int64,
        ).reshape(-1, _R_WIDTH)
        # Kept on self: the structure below points into them.
        self._arrays: dict[str, np.ndarray] = {
            "plans": plans,
            "steps": np.array(steps, dtype=np.int64).reshape(-1, 2),
            "tier_starts": np.array(tier_starts, dtype=np.float64),
            "tier_pers": np.array(tier_pers, dtype=np.float64),
            "tier_points": np.array(tier_points, dtype=np.int64),
            "bands": bands,
            "lists": lists,
            "caps": caps,
            "repair_of": repair_of,
            "repairs": repairs,
            "reason_rank": reason_rank,
        }
        score = rb.score
        self.struct = _Rules(
            ntypes=ntypes,
            ngrades=len(rb.grades),
            nlists=len(rb.lists),
            ncaps=len(rb.counting.annual_caps),
            ncategories=len(categories),
            base=score.base,
            has_min=score.minimum is not None,
            minimum=score.minimum or 0,
            has_max=score.maximum is not None,
            maximum=score.maximum or 0,
            higher_is_better=score.higher_is_better,
            repeat_factor=rb.counting.repeat_factor or 0,
            one_act_one_item=rb.counting.one_act_one_item,
            frozen_reason=len(self.reason_codes) - 1,
            **{name: _address(array) for name, array in self._arrays.items()},
        )
        self.grade_codes = pa.array([band.grade for band in rb.grades], pa.string())
        self.reason_strings = pa.array(self.reason_codes, pa.string())
        self.kind_strings = pa.array(KINDS, pa.string())
        self._outcomes: dict[tuple[int, int], tuple[list[str], list[str]]] = {}

    def outcome(self, kind: int, mask: int) -> tuple[list[str], list[str]]:
        """The list codes of a mask and the measures they bring for the kind."""
        key = (kind, mask)
        found = self._outcomes.get(key)
        if found is None:
            rb = self.rb
            on = [listing.code for bit, listing in enumerate(rb.lists) if mask >> bit & 1]
            measures = []
            for m in rb.measures:
                if SubjectKind(KINDS[kind]) in m.kinds and any(t in on for t in m.lists):
                    measures.append(m.code)
            found = self._outcomes[key] = (on, measures)
        return found


def _address(array: np.ndarray) -> int:
    return int(array.ctypes.data) if array.size else 0


# -- which files --------------------------------------------------------------------------------
def sorted_by_subject(source: Source) -> bool:
    """Whether ``source`` is a Parquet file whose metadata says it is sorted by subject."""
    if isinstance(source, pa.Table):
        return False
    path = Path(source)
    if path.suffix.lower() != ".parquet" or not path.exists():
        return False
    try:
        meta = pq.ParquetFile(path).metadata
    except (OSError, pa.ArrowInvalid):
        return False
    names = meta.schema.names
    if not all(column in names for column in REQUIRED_FLAT_COLUMNS):
        return False
    wanted = [names.index(column) for column in SORT_KEY]
    for group in range(meta.num_row_groups):
        declared = meta.row_group(group).sorting_columns or ()
        leading = [(c.column_index, c.descending) for c in declared[: len(wanted)]]
        if leading != [(column, False) for column in wanted]:
            return False
    return bool(meta.num_row_groups > 0)


def sort_records(
    source: Source, target: str | os.PathLike[str], *, compression: str = SORTED_COMPRESSION
) -> int:
    """Write ``source`` (any source the bulk engine reads) as Parquet sorted by subject, in
    the layout the kernel reads fastest, with the order declared in the file's metadata so that
    ``score_all`` takes the kernel. Returns the rows written.

    The layout: sorted by subject, then by the engine's own order within a subject (day, ref,
    provider), so that the kernel's per-subject sort finds its records in order; row groups of
    ``ROW_GROUP_ROWS``, in which a subject's id is one dictionary entry; LZ4 (``compression``),
    which decompresses about twice as fast as Snappy. DuckDB sorts out of core, so the records
    may be larger than memory.
    """
    import duckdb

    from socialcredit.bulk.sources import register_source

    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        register_source(con, source)
        reader = con.sql(f"SELECT * FROM src ORDER BY {', '.join(SORT_ORDER)}").to_arrow_reader(
            ROW_GROUP_ROWS
        )
        declared = pq.SortingColumn.from_ordering(
            reader.schema, [(column, "ascending") for column in SORT_ORDER]
        )
        written = 0
        pending: list[pa.RecordBatch] = []
        with pq.ParquetWriter(
            target,
            reader.schema,
            compression=compression,
            sorting_columns=declared,
            dictionary_pagesize_limit=DICTIONARY_PAGE_BYTES,
            use_dictionary=[c for c in reader.schema.names if c not in UNIQUE_COLUMNS],
        ) as out:
            for batch in reader:
                pending.append(batch)
                if sum(b.num_rows for b in pending) >= ROW_GROUP_ROWS:
                    table = pa.Table.from_batches(pending)
                    keep = table.num_rows - table.num_rows % ROW_GROUP_ROWS
                    out.write_table(table.slice(0, keep), row_group_size=ROW_GROUP_ROWS)
                    pending = table.slice(keep).to_batches()
                    written += keep
            if pending:
                table = pa.Table.from_batches(pending, schema=reader.schema)
                out.write_table(table, row_group_size=ROW_GROUP_ROWS)
                written += table.num_rows
        return written
    finally:
        con.close()


# -- scoring ------------------------------------------------------------------------------------
@dataclass
class KernelCounts:
    subjects: int = 0
    exact_subjects: int = 0


def score_sorted(
    path: str | os.PathLike[str],
    rulebook: Rulebook,
    as_of: date,
    schema: pa.Schema,
    counts: KernelCounts | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[pa.RecordBatch]:
    """Every subject's result, for a Parquet file sorted by subject (``sorted_by_subject``)."""
    with _session(rulebook, as_of, schema, counts) as run:
        for batch, scored in _score_batches(run, path, batch_rows):
            yield from run.results(batch, scored)


def write_sorted(
    path: str | os.PathLike[str],
    rulebook: Rulebook,
    as_of: date,
    schema: pa.Schema,
    write: Callable[[pa.RecordBatch], object],
    counts: KernelCounts | None = None,
    batch_rows: int = BATCH_ROWS,
) -> None:
    """``score_sorted``, each result batch passed to ``write``: the batches are built and
    written on a second thread while this one scores the next records."""

    def build_and_write(item: tuple[pa.RecordBatch, _Scored]) -> None:
        for results in run.results(*item):
            write(results)

    with _session(rulebook, as_of, schema, counts) as run:
        drain_on_thread(_score_batches(run, path, batch_rows), build_and_write)


@contextmanager
def _session(
    rulebook: Rulebook, as_of: date, schema: pa.Schema, counts: KernelCounts | None
) -> Iterator[_Runner]:
    lib = load()
    if lib is None:
        raise RuntimeError("the bulk kernel is not installed (see bulk.kernel.available)")
    counts = counts if counts is not None else KernelCounts()
    run = _Runner(
        lib, KernelRules(rulebook), (as_of - _EPOCH).days, rulebook, as_of, schema, counts
    )
    try:
        with _small_pages():
            yield run
    finally:
        run.close()


_PR_SET_THP_DISABLE, _PR_GET_THP_DISABLE = 41, 42


@contextmanager
def _small_pages() -> Iterator[None]:
    """Transparent huge pages off for this process while the kernel reads (Linux only).

    Why: pyarrow's allocator (mimalloc) asks for huge pages, and the batches are decoded on
    pyarrow's threads and freed on this one, so new batches keep landing on fresh 2 MB pages
    that the kernel of the operating system must zero first. Over 10M records that was 0.9-1.1
    s of system time in a run of 3.3 CPU-s; with huge pages off, 0.3-0.4 s (four runs each,
    alternated, ``/usr/bin/time``). The setting is put back as it was afterwards.
    """
    prctl = _prctl()
    if prctl is None:
        yield
        return
    before = prctl(_PR_GET_THP_DISABLE, 0, 0, 0, 0)
    changed = before == 0 and prctl(_PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0
    try:
        yield
    finally:
        if changed:
            prctl(_PR_SET_THP_DISABLE, 0, 0, 0, 0)


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def _score_batches(
    run: _Runner, path: str | os.PathLike[str], batch_rows: int
) -> Iterator[tuple[pa.RecordBatch, _Scored]]:
    """Every subject of the file scored, batch by batch: each batch with what the kernel
    wrote for it (``_Runner.results`` makes the result rows of the two).

    The last subject of a batch may go on in the next: it is carried over as ``tail`` (``at``
    is its first row in the file, for messages) and scored with the head of the next batch,
    grown until the subject ends in it; the rest of that batch is then scored in place.
    """
    tail: pa.RecordBatch | None = None
    at = 0
    for batch in _read_ahead(Path(path), batch_rows):
        offset = 0  # rows of the batch already scored with the tail
        if tail is not None:
            take = min(batch.num_rows, 256)
            while True:  # the tail and as much of the batch as its subject needs
                merged = _concat(tail, batch.slice(0, take))
                done, scored = run(merged, last=False, at=at)
                if done or take == batch.num_rows:
                    break
                take = min(batch.num_rows, take * 8)
            if not done:  # the whole batch is the tail's subject
                tail = merged
                continue
            yield merged, scored
            offset = done - tail.num_rows
            at += done
        rest = batch.slice(offset)
        done, scored = run(rest, last=False, at=at)
        yield rest, scored
        tail = rest.slice(done)
        at += done
    if tail is not None and tail.num_rows:
        _, scored = run(tail, last=True, at=at)
        yield tail, scored


_EPOCH = date(1970, 1, 1)
T = TypeVar("T")


def drain_on_thread(items: Iterator[T], write: Callable[[T], object]) -> None:
    """Pass every item to ``write`` on a thread of its own, while this one makes the next.

    An error on either side stops both and is raised here.
    """
    ready: queue.Queue[T | None] = queue.Queue(maxsize=4)
    failed: list[BaseException] = []

    def writer() -> None:
        try:
            while (item := ready.get()) is not None:
                write(item)
        except BaseException as error:
            failed.append(error)
            while ready.get() is not None:  # let the producer finish putting
                pass

    thread = threading.Thread(target=writer, name="scs-kernel-writer", daemon=True)
    thread.start()
    try:
        for item in items:
            if failed:
                break
            ready.put(item)
    finally:
        ready.put(None)
        thread.join()
    if failed:
        raise failed[0]


def _concat(first: pa.RecordBatch, second: pa.RecordBatch) -> pa.RecordBatch:
    """Two slices of batches as one. Providers and ids are decoded from their dictionaries
    first: joining two dictionaries would hash every entry of both whole batches (a slice
    keeps its batch's dictionary), for a few hundred rows."""
    table = pa.Table.from_batches([_plain(first), _plain(second)]).combine_chunks()
    return table.to_batches()[0]


_DECODED_TO_JOIN = ("provider", "subject_id", "act", "relates_to")


def _plain(batch: pa.RecordBatch) -> pa.RecordBatch:
    columns = [
        column.cast(pa.string()) if name in _DECODED_TO_JOIN else column
        for name, column in zip(batch.schema.names, batch.columns, strict=True)
    ]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _read_ahead(path: Path, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The file's batches in the kernel's columns, decoded one ahead on a thread."""
    metadata = pq.read_metadata(path)  # the footer, parsed once
    names = metadata.schema.names
    file = pq.ParquetFile(
        path, metadata=metadata, read_dictionary=[c for c in _DICTIONARY if c in names]
    )
    present = [c for c in _COLUMNS if c in names]
    ready: queue.Queue[pa.RecordBatch | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def read() -> None:
        try:
            first = 0
            for raw in file.iter_batches(batch_size=batch_rows, columns=present):
                if stop.is_set():
                    return
                ready.put(_kernel_batch(raw))
                first += raw.num_rows
            ready.put(None)
        except BaseException as error:  # handed to the consumer, raised there
            ready.put(error)

    reader = threading.Thread(target=read, name="scs-kernel-reader", daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while reader.is_alive():  # unblock a reader waiting to put
            try:
                ready.get_nowait()
            except queue.Empty:
                reader.join(0.01)


_OTHER_STRINGS = ("ref", "act", "relates_to")  # as read, plain or dictionaries: both do
_DICTIONARY_TYPE = pa.dictionary(pa.int32(), pa.string())


def _kernel_batch(raw: pa.RecordBatch) -> pa.RecordBatch:
    """A file batch as the kernel reads it: the columns it needs, missing ones as nulls, kinds
    and types dictionary-encoded (the kernel maps each dictionary's entries, not each row)."""
    n = raw.num_rows
    columns = dict(zip(raw.schema.names, raw.columns, strict=True))
    out = {}
    for name in ("subject_kind", "type", "provider", "subject_id"):  # required columns
        column = columns[name]
        out[name] = (
            column if pa.types.is_dictionary(column.type) else column.dictionary_encode()
        ).cast(_DICTIONARY_TYPE)
    day = columns["occurred_on"]
    out["occurred_on"] = day if day.type == pa.date32() else day.cast(pa.date32())
    for name in ("amount", "quantity"):
        column = columns.get(name)
        out[name] = pa.nulls(n, pa.float64()) if column is None else column.cast(pa.float64())
    for name in _OTHER_STRINGS:
        column = columns.get(name)
        if column is None:
            out[name] = pa.nulls(n, pa.string())
        elif pa.types.is_dictionary(column.type):
            out[name] = column.cast(_DICTIONARY_TYPE)
        else:
            out[name] = column.cast(pa.string())
    return pa.RecordBatch.from_pydict(out)


_KIND_NUMBERS = {k: i for i, k in enumerate(KINDS)}


def _dictionary_map(column: pa.DictionaryArray, index: dict[str, int]) -> np.ndarray:
    """Each dictionary entry's number in ``index`` (-1 if absent)."""
    return np.array([index.get(v, -1) for v in column.dictionary.to_pylist()], np.int32)


def _strings(array: pa.Array) -> _Strings:
    if pa.types.is_dictionary(array.type):
        values = array.dictionary
        validity, offsets, data = values.buffers()
        indices = array.indices
        row_validity = indices.buffers()[0]
        return _Strings(
            offsets=offsets.address + 4 * values.offset,
            data=data.address if data is not None else 0,
            valid=row_validity.address if row_validity is not None and indices.null_count else 0,
            bit_offset=indices.offset,
            indices=_numbers(indices, 4),
        )
    validity, offsets, data = array.buffers()
    return _Strings(
        offsets=offsets.address + 4 * array.offset,
        data=data.address if data is not None else 0,
        valid=validity.address if validity is not None and array.null_count else 0,
        bit_offset=array.offset,
        indices=0,
    )


def _chunk(batch: pa.RecordBatch, rules: KernelRules) -> _Chunk:
    """The kernel's view of a batch: addresses into its buffers (kept alive by the batch, and
    the two small maps by the returned structure)."""
    col = batch.column
    amount, quantity = col("amount"), col("quantity")
    kinds, types = col("subject_kind"), col("type")
    kind_map = _dictionary_map(kinds, _KIND_NUMBERS)
    type_map = _dictionary_map(types, rules.type_index)
    chunk = _Chunk(
        n=batch.num_rows,
        kind_index=_numbers(kinds.indices, 4),
        kind_map=_address(kind_map),
        type_index=_numbers(types.indices, 4),
        type_map=_address(type_map),
        day=_numbers(col("occurred_on"), 4),
        amount=_numbers(amount, 8),
        quantity=_numbers(quantity, 8),
        amount_valid=_validity(amount),
        quantity_valid=_validity(quantity),
        amount_bit=amount.offset,
        quantity_bit=quantity.offset,
        subject=_strings(col("subject_id")),
        ref=_strings(col("ref")),
        provider=_strings(col("provider")),
        act=_strings(col("act")),
        relates_to=_strings(col("relates_to")),
    )
    chunk.maps = (kind_map, type_map)
    return chunk


def _disorder(row: int) -> SourceError:
    return SourceError(
        f"row {row + 1}: the records are not sorted by subject_kind and subject_id, though "
        "the file's metadata says they are"
    )


def _numbers(array: pa.Array, width: int) -> int:
    return int(array.buffers()[1].address + width * array.offset)


def _validity(array: pa.Array) -> int:
    bits = array.buffers()[0]
    return bits.address if bits is not None and array.null_count else 0


@dataclass
class _Scored:
    """What the kernel wrote for a batch's whole subjects: per subject its first row (the
    rows up to ``end`` are theirs), standing, and whether it is left to the engine."""

    end: int
    first: np.ndarray
    score: np.ndarray
    grade: np.ndarray
    lists: np.ndarray
    reasons: np.ndarray
    exact: np.ndarray


class _Runner:
    """Calls the kernel on a batch, and turns what it wrote into result batches."""

    def __init__(
        self,
        lib: ctypes.CDLL,
        rules: KernelRules,
        day: int,
        rulebook: Rulebook,
        as_of: date,
        schema: pa.Schema,
        counts: KernelCounts,
    ):
        self.lib, self.rules, self.day = lib, rules, day
        self.rulebook, self.as_of, self.schema, self.counts = rulebook, as_of, schema, counts
        self._out: list[_Scored | None] = [None, None]
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="scs-kernel")

    def close(self) -> None:
        self._pool.shutdown()

    def _buffers(self, n: int, which: int) -> _Scored:
        """Room for ``n`` subjects, reused from call to call: fresh pages cost a fault each."""
        out = self._out[which]
        if out is None or len(out.first) < n:
            size = max(n, BATCH_ROWS)
            out = self._out[which] = _Scored(
                end=0,
                first=np.empty(size, np.int64),
                score=np.empty(size, np.int64),
                grade=np.empty(size, np.int64),
                lists=np.empty(size, np.int64),
                reasons=np.empty(size * MAX_REASONS, np.int64),
                exact=np.empty(size, np.int64),
            )
        return out

    def __call__(self, batch: pa.RecordBatch, *, last: bool, at: int) -> tuple[int, _Scored]:
        """Score the whole subjects of ``batch``; the rows they cover, and their results.

        A large batch is cut in two at a subject's first row and the halves scored on two
        threads (the kernel runs without the GIL).
        """
        n = batch.num_rows
        if n >= SPLIT_ROWS:
            cut = self.lib.scs_subject_start(ctypes.byref(_chunk(batch, self.rules)), n // 2)
            if cut == -1:
                raise _disorder(at + n // 2)
            if cut < n:
                first = self._pool.submit(self._score, batch.slice(0, cut), True, at, 0)
                second = self._score(batch.slice(cut), last, at + cut, 1)
                head = first.result()
                return cut + second.end, _Scored(
                    end=cut + second.end,
                    first=np.concatenate([head.first, second.first + cut]),
                    score=np.concatenate([head.score, second.score]),
                    grade=np.concatenate([head.grade, second.grade]),
                    lists=np.concatenate([head.lists, second.lists]),
                    reasons=np.concatenate([head.reasons, second.reasons]),
                    exact=np.concatenate([head.exact, second.exact]),
                )
        scored = self._score(batch, last, at, 0)
        return scored.end, scored

    def _score(self, batch: pa.RecordBatch, last: bool, at: int, buffers: int) -> _Scored:
        chunk = _chunk(batch, self.rules)
        out = self._buffers(batch.num_rows, buffers)
        consumed = ctypes.c_int64(0)
        written = self.lib.scs_score_chunk(
            ctypes.byref(chunk),
            ctypes.byref(self.rules.struct),
            self.day,
            int(last),
            ctypes.byref(
                _Out(*(_address(a) for a in vars(out).values() if isinstance(a, np.ndarray)))
            ),
            ctypes.byref(consumed),
        )
        if written == -1:
            raise MemoryError("the bulk kernel ran out of memory")
        if written == -2:
            raise _disorder(at + consumed.value)
        if written == -3:
            value = batch.column("subject_kind")[consumed.value].as_py()
            raise SourceError(
                f"row {at + consumed.value + 1}: subject_kind {value!r} is not one of "
                f"{', '.join(KINDS)}"
            )
        # Copies: the buffers serve the next call while these are still being made into rows.
        return _Scored(
            end=int(consumed.value),
            first=out.first[:written].copy(),
            score=out.score[:written].copy(),
            grade=out.grade[:written].copy(),
            lists=out.lists[:written].copy(),
            reasons=out.reasons[: written * MAX_REASONS].reshape(written, MAX_REASONS).copy(),
            exact=out.exact[:written].copy(),
        )

    def results(self, batch: pa.RecordBatch, out: _Scored) -> Iterator[pa.RecordBatch]:
        if not len(out.first):
            return
        self.counts.subjects += len(out.first)
        keep = out.exact == 0
        if not keep.all():
            self.counts.exact_subjects += int((~keep).sum())
            yield self._exact(batch, out)
        rules = self.rules
        first = out.first[keep]
        column = batch.column("subject_kind")
        kind_map = _dictionary_map(column, _KIND_NUMBERS).astype(np.int64)
        kinds = kind_map[column.indices.to_numpy()[first]]
        # (mask, kind) pairs: few distinct ones, each worked out once.
        keys = pa.array((out.lists[keep] << 2) | kinds).dictionary_encode()
        outcomes = [rules.outcome(key & 3, key >> 2) for key in keys.dictionary.to_numpy().tolist()]
        reasons = out.reasons[keep]
        present = reasons >= 0
        offsets = np.zeros(len(first) + 1, np.int32)
        np.cumsum(present.sum(axis=1), out=offsets[1:])
        yield pa.RecordBatch.from_arrays(
            [
                rules.kind_strings.take(pa.array(kinds)),
                batch.column("subject_id").take(pa.array(first)).cast(pa.string()),
                pa.array(out.score[keep]),
                rules.grade_codes.take(pa.array(out.grade[keep])),
                pa.array([o[0] for o in outcomes], _CODE_LIST).take(keys.indices),
                pa.array([o[1] for o in outcomes], _CODE_LIST).take(keys.indices),
                pa.ListArray.from_arrays(
                    pa.array(offsets), rules.reason_strings.take(pa.array(reasons[present]))
                ),
            ],
            schema=self.schema,
        )

    def _exact(self, batch: pa.RecordBatch, out: _Scored) -> pa.RecordBatch:
        """The flagged subjects, scored by ``scoring.evaluate``."""
        # Few runs need these: imported when one does.
        from socialcredit.bulk.exact import flat_record, result_row
        from socialcredit.scoring import evaluate

        ends = np.append(out.first[1:], out.end)
        rows = []
        for s in np.flatnonzero(out.exact):
            part = batch.slice(int(out.first[s]), int(ends[s] - out.first[s])).to_pylist()
            kind = SubjectKind(part[0]["subject_kind"])
            subject = SubjectRef(kind, part[0]["subject_id"])
            records = [flat_record(row, subject) for row in part]
            result = evaluate(records, self.rulebook, self.as_of, kind)
            rows.append(result_row(kind.value, subject.id, result))
        return pa.RecordBatch.from_pylist(rows, schema=self.schema)


_CODE_LIST = pa.list_(pa.string())
