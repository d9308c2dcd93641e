"""Due process at the storage edge: opening, answering and deciding cases, every step chained.

A case row says where a dispute, review, repair or deletion stands; every change to it is
also an entry of the ``cases`` hash chain (``case_events``), written in the same transaction,
so the subject's timeline is as tamper-evident as the ledger and ``scs verify`` checks it.
What a case does to a record goes through the ledger itself: a provider's correction or
revocation is a ledger amendment, an approved repair is a ledger record of the rulebook's
repair type, a deletion is a revocation — the engine reads them as it reads any record.

The deadline of a case is fixed when it opens, from the rulebook and the injected clock
(``deadlines``), so moving ``SCS_CLOCK`` across it shows what happens when nobody answers.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, select, update

from socialcredit import clock, deadlines
from socialcredit.catalog import Polarity
from socialcredit.chain import GENESIS, entry_hash
from socialcredit.disputes import OPEN, OUTCOMES, Case, CaseKind, Event
from socialcredit.intake import content_digest
from socialcredit.records import RecordRejected, canonical_bytes
from socialcredit.rulebook.model import RepairRule, Rulebook
from socialcredit.store import ledger, queries
from socialcredit.store.registry import RegistryError
from socialcredit.store.schema import case_events, cases, record_types, subjects

if TYPE_CHECKING:
    from socialcredit.store.registry import Registry

CASES = "cases"
#: Provider name of the ledger records that approved repairs file.
REPAIR_PROVIDER = "registry.repair"
MAX_REASON = 2_000
MAX_EVIDENCE = 20_000
MAX_COMMITMENT = 4_000


class CaseError(RegistryError):
    """A due-process request the registry refuses; ``status`` and ``code`` are for the API."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.field = status, code, field


# -- reading ------------------------------------------------------------------------------------
def load(conn: Connection, case_id: str) -> Case | None:
    row = conn.execute(select(cases).where(cases.c.id == case_id)).first()
    return None if row is None else _case(conn, row._mapping)


def for_subject(conn: Connection, subject_id: int, kind: CaseKind | None = None) -> list[Case]:
    """The subject's cases, oldest first, each with its timeline."""
    query = select(cases).where(cases.c.subject_id == subject_id)
    if kind is not None:
        query = query.where(cases.c.kind == kind.value)
    rows = list(conn.execute(query.order_by(cases.c.opened_at, cases.c.id)))
    events = _events(conn, [row.id for row in rows])
    return [_case(conn, row._mapping, events.get(row.id, ())) for row in rows]


def pending(conn: Connection, kind: CaseKind, provider: str | None = None) -> list[Case]:
    """Open cases of ``kind`` (of one provider's records), the nearest deadline first: a
    provider's or an operator's work list."""
    query = select(cases).where(cases.c.kind == kind.value, cases.c.status == OPEN)
    if provider is not None:
        query = query.where(cases.c.provider == provider)
    rows = list(conn.execute(query.order_by(cases.c.deadline, cases.c.opened_at)))
    events = _events(conn, [row.id for row in rows])
    return [_case(conn, row._mapping, events.get(row.id, ())) for row in rows]


def disputes_by_subject(conn: Connection) -> dict[int, list[Case]]:
    """Every dispute, by subject, without timelines: what re-scoring needs to leave out the
    records whose deadline passed unanswered (disputes are few next to records)."""
    out: dict[int, list[Case]] = {}
    for row in conn.execute(select(cases).where(cases.c.kind == CaseKind.DISPUTE.value)):
        out.setdefault(int(row.subject_id), []).append(_case(conn, row._mapping, ()))
    return out


def disputes_of(conn: Connection, subject_ids: Sequence[int]) -> dict[int, list[Case]]:
    """The disputes of several subjects, by subject, oldest first, without timelines: what a
    check needs (which records are disputed, which no longer count), a chunk at a time."""
    out: dict[int, list[Case]] = {}
    unique = list(dict.fromkeys(subject_ids))
    for start in range(0, len(unique), queries.LOOKUP_CHUNK):
        query = select(cases).where(
            cases.c.kind == CaseKind.DISPUTE.value,
            cases.c.subject_id.in_(unique[start : start + queries.LOOKUP_CHUNK]),
        )
        for row in conn.execute(query.order_by(cases.c.opened_at, cases.c.id)):
            out.setdefault(int(row.subject_id), []).append(_case(conn, row._mapping, ()))
    return out


def _events(conn: Connection, ids: list[str]) -> dict[str, tuple[Event, ...]]:
    if not ids:
        return {}
    out: dict[str, list[Event]] = {}
    for row in conn.execute(
        select(case_events).where(case_events.c.case_id.in_(ids)).order_by(case_events.c.seq)
    ):
        out.setdefault(row.case_id, []).append(
            Event(int(row.seq), row.step, orjson.loads(row.detail), row.actor, row.recorded_at)
        )
    return {k: tuple(v) for k, v in out.items()}


def _case(conn: Connection, data: Any, events: Any = None) -> Case:
    if events is None:
        events = _events(conn, [data["id"]]).get(data["id"], ())
    deadline = data["deadline"]
    return Case(
        id=data["id"],
        kind=CaseKind(data["kind"]),
        subject_id=int(data["subject_id"]),
        provider=data["provider"],
        ref=data["ref"],
        rulebook=data["rulebook"],
        listing=data["list"],
        status=data["status"],
        opened_at=data["opened_at"],
        deadline=deadline if isinstance(deadline, date) else date.fromisoformat(str(deadline)),
        closed_at=data["closed_at"],
        detail=orjson.loads(data["detail"]),
        events=tuple(events),
    )


# -- writing ------------------------------------------------------------------------------------
def _event(conn: Connection, case_id: str, step: str, detail: dict[str, Any], actor: str) -> None:
    """Append one step to the ``cases`` chain, in the caller's writer transaction."""
    seq, head = ledger.lock_head(conn, CASES)
    recorded_at = clock.timestamp()
    text = canonical_bytes(detail).decode()
    seq += 1
    head = entry_hash(head, seq, recorded_at, _digest(case_id, step, text, actor))
    conn.execute(
        case_events.insert().values(
            seq=seq,
            case_id=case_id,
            step=step,
            detail=text,
            actor=actor,
            recorded_at=recorded_at,
            entry_hash=head,
        )
    )
    ledger.set_head(conn, seq, head, CASES)


def _digest(case_id: str, step: str, detail: str, actor: str) -> bytes:
    return hashlib.sha256(
        canonical_bytes({"case": case_id, "step": step, "detail": detail, "actor": actor})
    ).digest()


def verify(conn: Connection) -> tuple[int, ledger.ChainProblem | None]:
    """Recompute the ``cases`` chain; the entries checked and the first problem found."""
    head, checked = GENESIS, 0
    for row in conn.execute(select(case_events).order_by(case_events.c.seq)):
        if row.seq != checked + 1:
            return checked, ledger.ChainProblem(CASES, checked + 1, "missing")
        head = entry_hash(
            head, row.seq, row.recorded_at, _digest(row.case_id, row.step, row.detail, row.actor)
        )
        if head != bytes(row.entry_hash):
            return checked, ledger.ChainProblem(CASES, row.seq, "entry altered")
        checked += 1
    return checked, ledger.check_head(conn, CASES, checked, head)


def _open(
    conn: Connection,
    kind: CaseKind,
    subject_id: int,
    deadline: date,
    detail: dict[str, Any],
    actor: str,
    provider: str | None = None,
    ref: str | None = None,
    rulebook: str | None = None,
    list_code: str | None = None,
) -> str:
    case_id = f"{kind.value[:3]}_{secrets.token_hex(6)}"
    conn.execute(
        cases.insert().values(
            id=case_id,
            kind=kind.value,
            subject_id=subject_id,
            provider=provider,
            ref=ref,
            rulebook=rulebook,
            list=list_code,
            status=OPEN,
            opened_at=clock.timestamp(),
            deadline=deadline,
            detail=canonical_bytes(detail).decode(),
        )
    )
    shown = {k: v for k, v in detail.items() if v is not None}
    _event(conn, case_id, "opened", {"deadline": deadline.isoformat(), **shown}, actor)
    return case_id


def _close(
    conn: Connection, case: Case, outcome: str, detail: dict[str, Any], actor: str, step: str
) -> None:
    now = clock.now()
    late = now.date() > case.deadline
    conn.execute(
        update(cases)
        .where(cases.c.id == case.id)
        .values(status=outcome, closed_at=clock.timestamp(now))
    )
    _event(conn, case.id, step, {"outcome": outcome, **detail, "late": late}, actor)


# -- the operations ---------------------------------------------------------------------------
def open_dispute(
    registry: Registry,
    file: queries.SubjectFile,
    provider: str,
    ref: str,
    reason: str,
    evidence: str | None,
    actor: str,
) -> Case:
    """Dispute one of the subject's records: disputed at once, the provider asked to verify.

    A second dispute of the same record while one is open is refused; after a dispute closed,
    another needs evidence (new information, as FCRA §611 asks).
    """
    reason = _text(reason, "reason", MAX_REASON)
    evidence = _optional_text(evidence, "evidence", MAX_EVIDENCE)
    subject_id = file.subject.id
    _own_record(file, provider, ref)
    with registry.engine.connect() as conn:
        earlier = [c for c in for_subject(conn, subject_id, CaseKind.DISPUTE) if c.ref == ref]
    if any(c.provider == provider and c.status == OPEN for c in earlier):
        raise CaseError(409, "already_disputed", f"record {ref!r} is already under dispute")
    if any(c.provider == provider for c in earlier) and evidence is None:
        raise CaseError(
            409,
            "repeated_dispute",
            f"record {ref!r} was disputed before and the dispute is closed: a new dispute "
            "needs new information (evidence)",
            "evidence",
        )
    today = clock.today()
    deadline = deadlines.dispute_deadline(today, _books(registry))
    with registry.writer.begin() as conn:
        case_id = _open(
            conn,
            CaseKind.DISPUTE,
            subject_id,
            deadline,
            {"reason": reason, "evidence": evidence},
            actor,
            provider=provider,
            ref=ref,
        )
        _event(
            conn,
            case_id,
            "provider_asked",
            {"provider": provider, "answer_by": deadline.isoformat()},
            "registry",
        )
    return _reload(registry, case_id)


def answer_dispute(
    registry: Registry,
    case_id: str,
    provider: str | None,
    outcome: str,
    reasons: str,
    correction: Mapping[str, Any] | None,
    actor: str,
) -> Case:
    """The provider's answer: ``confirmed`` (verified, counts again), ``corrected`` (the
    correction replaces the record in the ledger) or ``revoked`` (withdrawn).

    ``provider`` None is an admin answering on the provider's behalf."""
    reasons = _text(reasons, "reasons", MAX_REASON)
    case = _get(registry, case_id, CaseKind.DISPUTE)
    if provider is not None and case.provider != provider:
        raise CaseError(404, "no_case", f"no dispute {case_id!r} about your records")
    _choose(outcome, CaseKind.DISPUTE)
    _still_open(case)
    assert case.provider is not None and case.ref is not None
    detail: dict[str, Any] = {"reasons": reasons}
    fixed = None
    if outcome == "corrected":
        if not isinstance(correction, Mapping):
            raise CaseError(
                422,
                "invalid_request",
                "record: a correction needs the corrected record (with a new ref)",
                "record",
            )
        try:
            fixed = registry.validator().from_json(dict(correction))
        except RecordRejected as exc:
            raise CaseError(
                422, "invalid_request", f"record.{exc.errors[0]}", f"record.{exc.errors[0].field}"
            ) from None
        if fixed.provider != case.provider:
            raise CaseError(
                422,
                "invalid_request",
                "record.provider: must be the disputed record's",
                "record.provider",
            )
    why = f"dispute {case.id}: {reasons}"
    try:
        with registry.writing() as conn:  # the amendment and the answer land together
            if outcome == "revoked":
                detail["ledger_seq"] = registry.revoke(
                    case.provider, case.ref, why, f"revocation:{case.ref}", conn
                )
            elif fixed is not None:
                detail["ledger_seq"] = registry.correct(case.ref, fixed, why, conn)
                detail["corrected_by"] = fixed.ref
            _close(conn, case, outcome, detail, actor, "answered")
    except ledger.AmendError as exc:
        raise CaseError(409, "amendment_refused", str(exc), "record.ref") from None
    return _reload(registry, case_id)


def open_review(
    registry: Registry,
    file: queries.SubjectFile,
    rulebook: str,
    list_code: str,
    reason: str,
    actor: str,
) -> Case:
    """Ask for human review of an automated list decision (GDPR Art. 22)."""
    reason = _text(reason, "reason", MAX_REASON)
    subject_id = file.subject.id
    book = _book(registry, rulebook)
    from socialcredit.scoring import evaluate

    today = clock.today()
    result = evaluate(registry.scored_records(file, today), book, today, file.subject.kind)
    if list_code not in result.lists:
        raise CaseError(
            409, "not_on_list", f"the subject is not on {rulebook} list {list_code!r}", "list"
        )
    with registry.engine.connect() as conn:
        if any(
            c.listing == list_code and c.rulebook == rulebook and c.status == OPEN
            for c in for_subject(conn, subject_id, CaseKind.REVIEW)
        ):
            raise CaseError(409, "already_under_review", f"list {list_code!r} is under review")
    deadline = deadlines.dispute_deadline(today, [book])
    with registry.writer.begin() as conn:
        case_id = _open(
            conn,
            CaseKind.REVIEW,
            subject_id,
            deadline,
            {"reason": reason, "reasons_given": [r.code for r in result.reasons]},
            actor,
            rulebook=rulebook,
            list_code=list_code,
        )
        _event(conn, case_id, "reviewer_asked", {"answer_by": deadline.isoformat()}, "registry")
    return _reload(registry, case_id)


def answer_review(registry: Registry, case_id: str, outcome: str, reasons: str, actor: str) -> Case:
    """A person's decision on the review: ``upheld`` or ``overturned``, with reasons.

    Overturning records the reviewer's finding; the records behind the list change only
    through their providers (a correction or revocation), which the reasons should name."""
    reasons = _text(reasons, "reasons", MAX_REASON)
    case = _get(registry, case_id, CaseKind.REVIEW)
    _choose(outcome, CaseKind.REVIEW)
    _still_open(case)
    with registry.writer.begin() as conn:
        _close(conn, case, outcome, {"reasons": reasons}, actor, "decided")
    return _reload(registry, case_id)


def apply_repair(
    registry: Registry,
    file: queries.SubjectFile,
    provider: str,
    ref: str,
    commitment: str,
    actor: str,
) -> Case:
    """Apply for credit repair of an adverse record, with a credit commitment.

    Allowed once the rulebook's minimum publicity period has passed since the conduct, and
    only for records the rulebook has a repair rule for: the rule decides the effect."""
    commitment = _text(commitment, "commitment", MAX_COMMITMENT)
    subject_id = file.subject.id
    entry = _own_record(file, provider, ref)
    found = _repair_rule(registry, entry.type or "")
    if found is None:
        raise CaseError(
            409,
            "no_repair_path",
            f"no active rulebook has a repair rule for {entry.type!r}: the record stops "
            "counting when its validity ends",
        )
    book, rule = found
    today = clock.today()
    publicity = book.meta.repair_min_publicity
    if publicity is not None and entry.occurred_on is not None:
        allowed = publicity.end(entry.occurred_on)
        if today < allowed:
            raise CaseError(
                409,
                "too_early",
                f"{book.name} keeps such records shown for {publicity} before repair: apply "
                f"on or after {allowed.isoformat()}",
            )
    with registry.engine.connect() as conn:
        if any(
            c.provider == provider and c.ref == ref and c.status == OPEN
            for c in for_subject(conn, subject_id, CaseKind.REPAIR)
        ):
            raise CaseError(409, "already_applied", f"a repair of {ref!r} is already pending")
    deadline = deadlines.repair_deadline(today, book)
    with registry.writer.begin() as conn:
        case_id = _open(
            conn,
            CaseKind.REPAIR,
            subject_id,
            deadline,
            {"commitment": commitment, "repair_rule": rule.code},
            actor,
            provider=provider,
            ref=ref,
            rulebook=book.name,
        )
    return _reload(registry, case_id)


def decide_repair(
    registry: Registry, case_id: str, approve: bool, reasons: str, actor: str
) -> Case:
    """An operator approves or refuses a repair application, with reasons.

    Approval files a ledger record of the repair rule's type relating to the repaired record,
    so the engine applies the rulebook's repair (Rongcheng: the direct D becomes −50 for two
    years) exactly as it would for the provider's own record. A decision after the deadline
    is still taken, and marked late in the subject's timeline."""
    reasons = _text(reasons, "reasons", MAX_REASON)
    case = _get(registry, case_id, CaseKind.REPAIR)
    _still_open(case)
    detail: dict[str, Any] = {"reasons": reasons}
    with registry.writing() as conn:
        if approve:
            detail["ledger_seq"], detail["filed_ref"] = _file_repair(registry, conn, case)
        _close(conn, case, "approved" if approve else "refused", detail, actor, "decided")
    return _reload(registry, case_id)


def delete_positive(
    registry: Registry, file: queries.SubjectFile, provider: str, ref: str, actor: str
) -> Case:
    """Delete one of the subject's own positive records at their request (a revocation)."""
    subject_id = file.subject.id
    entry = _own_record(file, provider, ref)
    with registry.engine.connect() as conn:
        polarity = conn.execute(
            select(record_types.c.polarity).where(record_types.c.code == entry.type)
        ).scalar()
    if polarity != Polarity.POSITIVE.value:
        raise CaseError(
            409,
            "not_positive",
            f"record {ref!r} is not a positive record: only positive records are deleted on "
            "request; dispute or apply for repair of the others",
        )
    today = clock.today()
    deadline = deadlines.deletion_deadline(today, _books(registry))
    with registry.writing() as conn:
        case_id = _open(
            conn, CaseKind.DELETION, subject_id, deadline, {}, actor, provider=provider, ref=ref
        )
        seq = ledger.amend(
            conn,
            provider,
            ref,
            f"deleted at the subject's request ({case_id})",
            clock.timestamp(),
            f"deletion:{ref}",
        )
        case = _case(conn, conn.execute(select(cases).where(cases.c.id == case_id)).one()._mapping)
        _close(conn, case, "deleted", {"ledger_seq": seq}, "registry", "deleted")
    return _reload(registry, case_id)


# -- helpers ------------------------------------------------------------------------------------
def _file_repair(registry: Registry, conn: Connection, case: Case) -> tuple[int, str]:
    """Append the repair record for ``case`` under the subject's stored key; its seq and ref."""
    book = _book(registry, case.rulebook or "")
    rule = next((r for r in book.repairs if r.code == case.detail.get("repair_rule")), None)
    if rule is None:
        raise CaseError(409, "no_repair_path", f"{book.name} no longer has the repair rule")
    today = clock.today().isoformat()
    own_ref = f"repair:{case.id}"
    content = (
        "record",
        REPAIR_PROVIDER,
        own_ref,
        sorted(rule.by)[0],
        today,
        today,
        None,
        None,
        None,
        case.ref,
        f"credit commitment: {case.detail.get('commitment', '')}",
        rule.legal_basis or f"credit repair approved under {book.name} ({case.id})",
        None,
        None,
        None,
    )
    seq, head = ledger.lock_head(conn)
    subject = conn.execute(
        select(subjects.c.kind, subjects.c.key).where(subjects.c.id == case.subject_id)
    ).one()
    digest = content_digest(subject.kind, subject.key, content)
    recorded_at = clock.timestamp()
    seq += 1
    head = entry_hash(head, seq, recorded_at, digest)
    ledger.insert_entries(conn, [(seq, case.subject_id, *content, recorded_at, digest, head)])
    ledger.set_head(conn, seq, head)
    return seq, own_ref


def _own_record(file: queries.SubjectFile, provider: str, ref: str) -> queries.HistoryEntry:
    """The subject's current record (provider, ref); 404 otherwise, naming nothing else."""
    for entry in file.history:
        if (
            entry.provider == provider
            and entry.ref == ref
            and entry.kind in ("record", "correction")
            and entry.type is not None  # not erased after its retention period
            and entry.status is queries.EntryStatus.CURRENT
        ):
            return entry
    raise CaseError(
        404, "no_record", f"your file has no current record {ref!r} from {provider!r}", "ref"
    )


def _books(registry: Registry) -> list[Rulebook]:
    names = [a.name for a in registry.active_rulebooks()] or ["rongcheng"]
    return [registry.rulebook(n) for n in names]


def _book(registry: Registry, name: str) -> Rulebook:
    try:
        return registry.rulebook(name)
    except RegistryError as exc:
        raise CaseError(422, "invalid_request", f"rulebook: {exc}", "rulebook") from None


def _repair_rule(registry: Registry, record_type: str) -> tuple[Rulebook, RepairRule] | None:
    for book in _books(registry):
        for rule in book.repairs:
            if record_type in rule.ends:
                return book, rule
    return None


def _get(registry: Registry, case_id: str, kind: CaseKind) -> Case:
    with registry.engine.connect() as conn:
        case = load(conn, case_id)
    if case is None or case.kind is not kind:
        raise CaseError(404, "no_case", f"no {kind.value} {case_id!r}")
    return case


def _reload(registry: Registry, case_id: str) -> Case:
    with registry.engine.connect() as conn:
        case = load(conn, case_id)
    assert case is not None
    return case


def _still_open(case: Case) -> None:
    if case.status != OPEN:
        raise CaseError(
            409, "case_closed", f"{case.kind.value} {case.id} is already closed ({case.status})"
        )


def _choose(outcome: str, kind: CaseKind) -> None:
    if outcome not in OUTCOMES[kind]:
        raise CaseError(
            422,
            "invalid_request",
            f"outcome: {outcome!r} is not one of {', '.join(OUTCOMES[kind])}",
            "outcome",
        )


def _text(value: Any, field: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CaseError(422, "invalid_request", f"{field}: required, a non-empty text", field)
    if len(value) > limit:
        raise CaseError(422, "invalid_request", f"{field}: at most {limit:,} characters", field)
    return value.strip()


def _optional_text(value: Any, field: str, limit: int) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _text(value, field, limit)
