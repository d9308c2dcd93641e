"""The registry: one database plus the operator's secret, and the operations on them.

This is the I/O edge around the pure core: it loads the providers, record types and legacy
codes that validation needs, turns identifiers into keyed hashes, and appends to the ledger
and the operator log. Every operator action is itself a hash-chained entry, so the
allow-lists that decide what counts are as auditable as the records.
"""

from __future__ import annotations

import getpass
import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, func, select

from socialcredit import clock
from socialcredit.catalog import RecordType, all_shipped_types, make_record_type
from socialcredit.chain import GENESIS, entry_hash
from socialcredit.identifiers import SubjectKind, display_form, normalise, subject_key
from socialcredit.intake import IntakeContext, PreparedRow, Preparer
from socialcredit.providers import Provider, make_provider
from socialcredit.records import FieldError, Record, RecordValidator, canonical_bytes
from socialcredit.rulebook import Rulebook, RulebookError, load_rulebook, shipped_names
from socialcredit.scoring import Result, evaluate
from socialcredit.store import audit, database, ledger, outbox, queries
from socialcredit.store import rulebooks as activations
from socialcredit.store.read_cache import ReadCache
from socialcredit.store.schema import (
    chain_heads,
    legacy_codes,
    meta,
    operator_log,
    providers,
    record_types,
    subjects,
)
from socialcredit.store.schema import ledger as ledger_table
from socialcredit.store.secret import check_value, create_secret, default_secret_path, read_secret

if TYPE_CHECKING:
    from socialcredit.disputes import Case, CaseKind
    from socialcredit.store.results import RescoreSummary

T = TypeVar("T")

OPLOG = "operator_log"
CASES = "cases"  # the due-process chain (``store.cases``)


class RegistryError(RuntimeError):
    """An operation on the registry cannot be done; the message says why and what to do."""


class SubjectNotFound(RegistryError):
    """No record names the subject: the registry has no file on it."""


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ledger_entries: int
    operator_entries: int
    problem: ledger.ChainProblem | None
    heads: dict[str, str]  # chain -> "seq:hash", to anchor outside the database
    audit_entries: int = 0
    case_entries: int = 0

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "ledger_entries": self.ledger_entries,
            "operator_entries": self.operator_entries,
            "audit_entries": self.audit_entries,
            "case_entries": self.case_entries,
            "heads": self.heads,
            "first_problem": None
            if self.problem is None
            else {
                "chain": self.problem.chain,
                "seq": self.problem.seq,
                "problem": self.problem.problem,
            },
        }


class Registry:
    def __init__(self, engine: Engine, secret: bytes):
        self.engine = engine
        self.secret = secret
        self.writer = engine.execution_options(**database.WRITER)
        self.resolver = ledger.SubjectResolver()
        # Writers queue at the database's chain-head lock anyway; queueing them here first
        # keeps the subject cache, which a failed write clears, consistent between threads
        # of one process (the API server's).
        self._write_lock = threading.Lock()
        #: The server's read cache (``store.read_cache``); None everywhere else, so commands
        #: and tests that write behind a registry's back always read the database.
        self.cache: ReadCache | None = None
        self._intake: Preparer | None = None

    def serving(self) -> Registry:
        """This registry for a server: the same database and secret, with a read cache that
        keeps what is read again and again until the registry changes. A new object, so
        whoever holds this one (a test, a command) keeps reading the database directly."""
        served = Registry(self.engine, self.secret)
        served.cache = ReadCache()
        return served

    def refresh(self) -> None:
        """Start of a request: drop what writes since the last one made stale."""
        if self.cache is not None:
            self.cache.refresh_from(self.engine)

    def cached(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        return compute() if self.cache is None else self.cache.config(key, compute)

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def init(
        cls, url: str | None = None, secret_file: Path | None = None, actor: str | None = None
    ) -> Registry:
        """Create or upgrade the registry at ``url``; create its secret on first use."""
        engine = database.open_engine(url)
        database.upgrade(engine)
        with engine.execution_options(**database.WRITER).begin() as conn:
            values = dict(conn.execute(select(meta.c.key, meta.c.value)).all())
            database_id = values.get("database_id") or uuid.uuid4().hex
            path = secret_file or default_secret_path(database_id)
            if "database_id" not in values:
                secret = create_secret(path)
                conn.execute(
                    meta.insert(),
                    [
                        {"key": "database_id", "value": database_id},
                        {"key": "secret_check", "value": check_value(secret)},
                    ],
                )
            else:
                secret = _read_checked(path, values["secret_check"])
            ledger.create_heads(conn, (ledger.LEDGER, OPLOG, audit.AUDIT, CASES))
        registry = cls(engine, secret)
        registry._load_shipped_types(actor or _actor())
        return registry

    @classmethod
    def open(cls, url: str | None = None, secret_file: Path | None = None) -> Registry:
        """Open an initialised registry; raises ``RegistryError`` if it is not one.

        Never creates anything: a mistyped SQLite path is an error, not a new empty file.
        """
        parsed = database.database_url(url)
        if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
            raise RegistryError(
                f"there is no registry at {parsed.database!r}: check --db, or create one with "
                "`scs init`"
            )
        engine = database.open_engine(parsed)
        if not database.is_initialised(engine):
            raise RegistryError(
                f"{engine.url.render_as_string(hide_password=True)} is not a socialcredit "
                "registry yet: run `scs init` first"
            )
        behind = database.schema_behind(engine)
        if behind is not None:
            raise RegistryError(
                f"{engine.url.render_as_string(hide_password=True)} has the schema of revision "
                f"{behind[0]}; this socialcredit needs {behind[1]}: run `scs init` to upgrade it"
            )
        with engine.connect() as conn:
            values = dict(conn.execute(select(meta.c.key, meta.c.value)).all())
        path = secret_file or default_secret_path(values["database_id"])
        return cls(engine, _read_checked(path, values["secret_check"]))

    # -- what validation needs -------------------------------------------------------------
    def providers(self) -> dict[str, Provider]:
        return self.cached(("providers",), self._read_providers)

    def _read_providers(self) -> dict[str, Provider]:
        with self.engine.connect() as conn:
            return {
                row.name: Provider(row.name, tuple(row.type_patterns.split()))
                for row in conn.execute(select(providers))
            }

    def record_types(self) -> dict[str, RecordType]:
        return self.cached(("record_types",), self._read_record_types)

    def _read_record_types(self) -> dict[str, RecordType]:
        with self.engine.connect() as conn:
            return {
                row.code: make_record_type(
                    row.code, row.title, row.category, row.polarity, row.subject_kinds, row.source
                )
                for row in conn.execute(select(record_types))
            }

    def legacy_codes(self) -> frozenset[str]:
        return self.cached(("legacy_codes",), self._read_legacy_codes)

    def _read_legacy_codes(self) -> frozenset[str]:
        with self.engine.connect() as conn:
            return frozenset(conn.execute(select(legacy_codes.c.code)).scalars())

    def intake_context(self, today: date | None = None) -> IntakeContext:
        """What validating and preparing records needs, as one picklable value."""
        return IntakeContext(
            self.providers(),
            self.record_types(),
            today or clock.today(),
            self.legacy_codes(),
            self.secret,
        )

    def validator(self, today: date | None = None) -> RecordValidator:
        return self.intake_context(today).validator()

    def preparer(self) -> Preparer:
        """A preparer for today's validation context, kept while that context holds.

        Its memory of verdicts (providers and types, identifiers, dates, keyed hashes) is
        what makes the quick path quick, so a server submitting batch after batch keeps one;
        a new provider, record type, legacy code or day gives a new one.
        """
        context = self.intake_context()
        current = self._intake
        if current is None or current.context != context:
            current = self._intake = Preparer(context)
        return current

    # -- operator actions ------------------------------------------------------------------
    def add_provider(
        self, name: str, patterns: Sequence[str], actor: str | None = None
    ) -> Provider:
        provider = make_provider(name, tuple(patterns))
        with self.writer.begin() as conn:
            old = conn.execute(
                select(providers.c.type_patterns).where(providers.c.name == name)
            ).scalar()
            text = " ".join(provider.type_patterns)
            if old == text:
                return provider
            if old is None:
                conn.execute(providers.insert().values(name=name, type_patterns=text))
            else:
                conn.execute(
                    providers.update().where(providers.c.name == name).values(type_patterns=text)
                )
            self.log_action(
                conn,
                "provider.add" if old is None else "provider.update",
                {"name": name, "types": list(provider.type_patterns), "was": old},
                actor or _actor(),
            )
        return provider

    def add_record_type(self, record_type: RecordType, actor: str | None = None) -> None:
        """Register an operator's record type, refusing the special categories."""
        from socialcredit.lines import crossed_lines

        crossings = crossed_lines(record_type.code, record_type.title, record_type.category)
        if crossings:
            raise RegistryError(
                "; ".join(
                    f"record type {record_type.code!r} crosses a line we do not cross: {c.line} "
                    f"({c.term!r})"
                    for c in crossings
                )
            )
        with self.writer.begin() as conn:
            if conn.execute(
                select(record_types.c.code).where(record_types.c.code == record_type.code)
            ).first():
                raise RegistryError(f"record type {record_type.code!r} already exists")
            conn.execute(record_types.insert().values(_type_row(record_type)))
            self.log_action(conn, "record_type.add", _type_row(record_type), actor or _actor())

    def allow_legacy_code(self, code: str, reason: str, actor: str | None = None) -> None:
        """Put an early pilot USCC that fails the check on the audited allow-list."""
        code = code.strip().upper()
        if not reason.strip():
            raise RegistryError("give the reason for allowing a legacy code (--reason)")
        if len(code) != 18 or not code.isalnum():
            raise RegistryError(f"{code!r} is not 18 letters and digits")
        with self.writer.begin() as conn:
            if conn.execute(select(legacy_codes.c.code).where(legacy_codes.c.code == code)).first():
                return
            conn.execute(legacy_codes.insert().values(code=code, reason=reason.strip()))
            self.log_action(
                conn,
                "legacy_code.allow",
                {"code": code, "reason": reason.strip()},
                actor or _actor(),
            )

    # -- records -----------------------------------------------------------------------------
    def append(self, records: Sequence[Record]) -> ledger.BatchResult:
        """Append validated records in one transaction (see ``ledger.append_prepared``)."""
        return self.append_prepared([self._hasher.prepare_record(r) for r in records])

    def append_prepared(
        self, items: Sequence[PreparedRow], *, owe_notices: bool = False
    ) -> ledger.BatchResult:
        """Append prepared records in one transaction. With ``owe_notices`` the subjects of
        the adverse records that landed are marked, in that transaction, as owed their
        notices (``outbox.owe``), so that no crash can lose the notices a batch calls for."""
        types = self.record_types() if owe_notices else {}
        with self._writing() as conn:
            batch = ledger.append_prepared(conn, items, self.resolver, clock.timestamp())
            if owe_notices and batch.accepted:
                adverse = (items[pos] for pos in batch.accepted)
                outbox.owe(
                    conn,
                    (
                        self.resolver.id_of(key)
                        for _kind, key, _display, content, *_ in adverse
                        if (t := types.get(content[3])) is None or t.polarity != "positive"
                    ),
                    batch.seq,
                )
            return batch

    def writing(self) -> AbstractContextManager[Connection]:
        """A writer transaction for several registry writes that must land together."""
        return self._writing()

    @contextmanager
    def _within(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with self._writing() as own:
                yield own

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A writer transaction that may create subjects: one at a time in this process, and
        the subject cache dropped if it fails (the subjects it created are rolled back)."""
        with self._write_lock:
            try:
                with self.writer.begin() as conn:
                    yield conn
            except BaseException:
                self.resolver.forget()
                raise

    def revoke(
        self,
        provider: str,
        ref: str,
        reason: str,
        own_ref: str | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Withdraw ``provider``'s record ``ref``; the revocation is a new ledger entry.

        ``conn``: a writer transaction of the caller's (``writing``) to land in, so that an
        amendment and what it answers (a dispute) commit together."""
        _require_reason(reason)
        with self._within(conn) as conn:
            return ledger.amend(
                conn,
                provider,
                ref,
                reason.strip(),
                clock.timestamp(),
                own_ref or f"revocation:{ref}",
            )

    def correct(self, ref: str, record: Record, reason: str, conn: Connection | None = None) -> int:
        """Replace the provider's record ``ref`` by ``record`` (which has its own new ref)."""
        _require_reason(reason)
        prepared = self._hasher.prepare_record(record)
        with self._within(conn) as conn:
            resolved = self.resolver.ids(conn, [prepared])[0]
            if isinstance(resolved, FieldError):
                raise ledger.AmendError(str(resolved))
            return ledger.amend(
                conn,
                record.provider,
                ref,
                reason.strip(),
                clock.timestamp(),
                record.ref,
                (prepared, resolved),
            )

    @cached_property
    def _hasher(self) -> Preparer:
        # Records reaching append and correct are validated already: only their keyed and
        # content hashes are made here, so no validation context is read from the database
        # (``preparer`` is the one that validates, for records that are not yet).
        return Preparer(IntakeContext({}, {}, clock.today(), frozenset(), self.secret))

    def find_subject(self, kind: SubjectKind, raw_id: str) -> ledger.SubjectEntry | None:
        return self.cached(("subject", kind, raw_id), lambda: self._find_subject(kind, raw_id))

    def _find_subject(self, kind: SubjectKind, raw_id: str) -> ledger.SubjectEntry | None:
        number = normalise(kind, raw_id, self.legacy_codes())
        key = subject_key(self.secret, kind, number)
        with self.engine.connect() as conn:
            row = conn.execute(
                select(subjects.c.id, subjects.c.kind, subjects.c.key).where(subjects.c.key == key)
            ).first()
        return None if row is None else ledger.SubjectEntry(row.id, row.kind, row.key)

    # -- reading subjects, and scoring them at read time -----------------------------------------
    def subject_file(self, kind: SubjectKind, raw_id: str) -> queries.SubjectFile:
        """The subject's records that count now and its whole history (``queries``)."""
        found = self.find_subject(kind, raw_id)
        if found is None:
            shown = display_form(kind, normalise(kind, raw_id, self.legacy_codes()))
            raise SubjectNotFound(
                f"no record names {kind.value} {shown}: the registry has no file on it"
            )
        return self._subject_cached(found.id, "file", lambda: self._read_file(found.id))

    def _read_file(self, subject_id: int) -> queries.SubjectFile:
        with self.engine.connect() as conn:
            return queries.read_file(conn, subject_id)

    def _subject_cached(self, subject_id: int, key: Any, compute: Callable[[], T]) -> T:
        if self.cache is None:
            return compute()
        return self.cache.subject(subject_id, key, compute)

    def subject_cases(self, subject_id: int, kind: CaseKind | None = None) -> list[Case]:
        """The subject's due-process cases (of ``kind``), from the cache in the server."""
        from socialcredit.store import cases

        def read() -> list[Case]:
            with self.engine.connect() as conn:
                return cases.for_subject(conn, subject_id, kind)

        return self._subject_cached(subject_id, ("cases", kind), read)

    def subject_records(self, kind: SubjectKind, raw_id: str) -> list[Record]:
        return self.subject_file(kind, raw_id).records

    def subject_history(self, kind: SubjectKind, raw_id: str) -> list[queries.HistoryEntry]:
        return self.subject_file(kind, raw_id).history

    def evaluate(
        self, kind: SubjectKind, raw_id: str, rulebook: str, as_of: date | None = None
    ) -> Result:
        """The subject's result now (or ``as_of``) under the active version of ``rulebook``.

        Evaluated from the records valid at that moment whenever asked, so a new record counts
        at once and an expired one stops counting without anyone touching the registry.
        """
        file = self.subject_file(kind, raw_id)
        moment = as_of or clock.today()
        return evaluate(
            self.scored_records(file, moment), self.rulebook(rulebook), moment, file.subject.kind
        )

    def scored_records(self, file: queries.SubjectFile, as_of: date) -> list[Record]:
        """The file's records the engine scores on ``as_of``: without those whose dispute
        deadline passed unanswered (``disputes.suspended``), so every read path agrees."""
        from socialcredit.disputes import counting

        return counting(file.records, self.subject_cases(file.subject.id), as_of)

    def rescore(
        self,
        rulebook: str,
        as_of: date | None = None,
        bulk: ModuleType | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> RescoreSummary:
        """Write the results snapshot of every subject (``store.results``); ``bulk`` is the
        bulk engine module (``engines.load_bulk``), or None to score subject by subject."""
        from socialcredit.store.results import rescore  # pulls in pyarrow: only when asked

        return rescore(self.engine, self.rulebook(rulebook), as_of or clock.today(), bulk, progress)

    # -- rulebooks ---------------------------------------------------------------------------
    def rulebook(self, name: str) -> Rulebook:
        """The active version of rulebook ``name``; the shipped one if none was activated."""
        return self.cached(("rulebook", name), lambda: self._read_rulebook(name))

    def _read_rulebook(self, name: str) -> Rulebook:
        with self.engine.connect() as conn:
            stored = activations.active_text(conn, name)
        if stored is not None:
            return activations.parsed(*stored, origin=f"{name} (active in the registry)")
        if name in shipped_names():
            return activations.shipped(name)
        active = ", ".join(a.name for a in self.active_rulebooks()) or "none"
        raise RegistryError(
            f"no rulebook {name!r} is active in this registry and none is shipped under that "
            f"name (active: {active}; shipped: {', '.join(shipped_names())})"
        )

    def active_rulebooks(self) -> list[activations.Activation]:
        with self.engine.connect() as conn:
            return activations.active(conn)

    def activate_rulebook(
        self, name_or_path: str, actor: str | None = None
    ) -> tuple[activations.Activation, bool]:
        """Check a rulebook and make it the active version of its name; logged.

        Returns the activation and whether anything changed (activating the active text again
        changes nothing). A name and version already activated with another text is refused.
        """
        try:
            rulebook = load_rulebook(name_or_path)
        except RulebookError as exc:
            raise RegistryError(f"refused to activate: {activations.one_line(exc)}") from None
        digest = activations.digest(rulebook.source)
        with self.writer.begin() as conn:
            current = activations.active_text(conn, rulebook.name)
            if current is not None and current[1] == digest:
                active = next(a for a in activations.active(conn) if a.name == rulebook.name)
                return active, False
            earlier = activations.version_digest(conn, rulebook.name, rulebook.version)
            if earlier is not None and earlier != digest:  # the same text again is a rollback
                raise RegistryError(
                    f"{rulebook.name} {rulebook.version} was activated before with another "
                    f"text (sha256 {earlier[:12]}…): a published version never changes, so "
                    "give the new text a new version in [meta]"
                )
            actor = actor or _actor()
            activation = activations.insert(conn, rulebook, clock.timestamp(), actor)
            self.log_action(
                conn,
                "rulebook.activate",
                {"name": rulebook.name, "version": rulebook.version, "sha256": digest},
                actor,
            )
        return activation, True

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            kinds: dict[str, int] = dict(
                conn.execute(select(subjects.c.kind, func.count()).group_by(subjects.c.kind)).all()
            )
            entries: dict[str, int] = dict(
                conn.execute(
                    select(ledger_table.c.kind, func.count()).group_by(ledger_table.c.kind)
                ).all()
            )
            provider_count = conn.execute(select(func.count()).select_from(providers)).scalar()
        return {
            "persons": kinds.get("person", 0),
            "organisations": kinds.get("organisation", 0),
            "institutions": kinds.get("institution", 0),
            "providers": int(provider_count or 0),
            "records": entries.get("record", 0),
            "corrections": entries.get("correction", 0),
            "revocations": entries.get("revocation", 0),
        }

    def verify(self, anchors: Mapping[int, bytes] | None = None) -> VerifyReport:
        """Recompute every chain; ``anchors`` are ledger entry hashes recorded elsewhere."""
        from socialcredit.store import archive, cases

        with self.engine.connect() as conn:
            erased, erase_problem = archive.erased_seqs(conn)
            checked, problem = ledger.verify_ledger(conn, anchors, erased=erased)
            if problem is None and erase_problem is not None:
                problem = ledger.ChainProblem(ledger.LEDGER, 0, erase_problem)
            op_checked, op_problem = _verify_oplog(conn)
            audit_checked, audit_problem = audit.verify(conn)
            case_checked, case_problem = cases.verify(conn)
            heads = {
                row.chain: f"{row.seq}:{bytes(row.entry_hash).hex()}"
                for row in conn.execute(select(chain_heads))
            }
        return VerifyReport(
            checked,
            op_checked,
            problem or op_problem or audit_problem or case_problem,
            heads,
            audit_checked,
            case_checked,
        )

    # -- internals ---------------------------------------------------------------------------
    def log_action(
        self, conn: Any, action: str, detail: dict[str, Any], actor: str | None = None
    ) -> None:
        """Append an operator action to the operator log, inside the caller's transaction, so
        the action and its record of who did it land together or not at all."""
        actor = actor or _actor()
        seq, head = ledger.lock_head(conn, OPLOG)
        recorded_at = clock.timestamp()
        seq += 1
        detail_text = canonical_bytes(detail).decode()
        head = entry_hash(head, seq, recorded_at, _oplog_digest(action, detail_text, actor))
        conn.execute(
            operator_log.insert().values(
                seq=seq,
                action=action,
                detail=detail_text,
                actor=actor,
                recorded_at=recorded_at,
                entry_hash=head,
            )
        )
        ledger.set_head(conn, seq, head, OPLOG)

    def _load_shipped_types(self, actor: str) -> None:
        with self.writer.begin() as conn:
            known = set(conn.execute(select(record_types.c.code)).scalars())
            missing = [t for t in all_shipped_types() if t.code not in known]
            if missing:
                conn.execute(record_types.insert(), [_type_row(t) for t in missing])
                self.log_action(
                    conn, "record_type.load_shipped", {"codes": [t.code for t in missing]}, actor
                )

    @cached_property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)


def _type_row(t: RecordType) -> dict[str, str]:
    return {
        "code": t.code,
        "title": t.title,
        "category": t.category,
        "polarity": t.polarity.value,
        "subject_kinds": t.kinds_text,
        "source": t.source,
    }


def _oplog_digest(action: str, detail_text: str, actor: str) -> bytes:
    return hashlib.sha256(
        canonical_bytes({"action": action, "detail": detail_text, "actor": actor})
    ).digest()


def _verify_oplog(conn: Any) -> tuple[int, ledger.ChainProblem | None]:
    head, checked = GENESIS, 0
    for row in conn.execute(select(operator_log).order_by(operator_log.c.seq)):
        if row.seq != checked + 1:
            return checked, ledger.ChainProblem(OPLOG, checked + 1, "missing")
        head = entry_hash(
            head, row.seq, row.recorded_at, _oplog_digest(row.action, row.detail, row.actor)
        )
        if head != bytes(row.entry_hash):
            return checked, ledger.ChainProblem(OPLOG, row.seq, "entry altered")
        checked += 1
    return checked, ledger.check_head(conn, OPLOG, checked, head)


def _read_checked(path: Path, expected: str) -> bytes:
    secret = read_secret(path)
    if check_value(secret) != expected:
        raise RegistryError(
            f"the secret in {path} does not belong to this database: "
            "point SCS_SECRET_FILE (or --secret-file) at the one `scs init` created for it"
        )
    return secret


def _require_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise ledger.AmendError("give the reason for the amendment (--reason)")


def _actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "operator"
