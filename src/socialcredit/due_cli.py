"""The due-process commands: dispute, review, repair, notices, report and archive.

The command-line twins of the due-process API, for an operator's desk: the same operations
(``store.cases``, ``store.outbox``, ``report``, ``store.archive``), the same refusals as
``error:`` lines, results as JSON on stdout. ``SCS_CLOCK`` moves "now" for deadlines.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer

from socialcredit import clock
from socialcredit import report as credit_report
from socialcredit.console import AsOf, CommandError, Db, SecretFile, as_of_date, emit, user_errors
from socialcredit.disputes import Case, CaseKind
from socialcredit.identifiers import infer_kind
from socialcredit.notices import channel_for
from socialcredit.store import archive, cases, outbox, queries
from socialcredit.store.registry import Registry

dispute_app = typer.Typer(
    help="Disputes of records: open, answer, list, show.", no_args_is_help=True
)
review_app = typer.Typer(
    help="Human review of automated list decisions (GDPR Art. 22).", no_args_is_help=True
)
repair_app = typer.Typer(
    help="Credit repair, and deletion of a subject's own positive records.", no_args_is_help=True
)
notices_app = typer.Typer(
    help="The notice outbox: list, sweep, work, deliver.", no_args_is_help=True
)

Subject = Annotated[str, typer.Argument(metavar="SUBJECT", help="Resident number or USCC")]
CaseId = Annotated[str, typer.Argument(metavar="CASE", help="A case id (dis_…, rev_…, rep_…)")]
Provider = Annotated[str, typer.Option("--provider", help="The provider of the record")]
Ref = Annotated[str, typer.Option("--ref", help="The provider's ref of the record")]
Reasons = Annotated[str, typer.Option("--reasons", help="Why, in words the subject will read")]


def _actor() -> str:
    try:
        return f"operator:{getpass.getuser()}"
    except Exception:  # no login name in some containers
        return "operator"


def _file(registry: Registry, subject: str) -> queries.SubjectFile:
    return registry.subject_file(infer_kind(subject), subject)


def _show(case: Case) -> None:
    emit(case.to_json(clock.today()))


# -- disputes -----------------------------------------------------------------------------------
@dispute_app.command("open")
@user_errors
def dispute_open(
    subject: Subject,
    provider: Provider,
    ref: Ref,
    reason: Annotated[str, typer.Option("--reason", help="Why the record is wrong")],
    evidence: Annotated[str | None, typer.Option("--evidence", help="Optional evidence")] = None,
    db: Db = None,
    secret_file: SecretFile = None,
) -> None:
    """Dispute a record: disputed at once, the provider asked to verify by the deadline."""
    registry = Registry.open(db, secret_file)
    file = _file(registry, subject)
    _show(cases.open_dispute(registry, file, provider, ref, reason, evidence, _actor()))


@dispute_app.command("answer")
@user_errors
def dispute_answer(
    case_id: CaseId,
    outcome: Annotated[str, typer.Option("--outcome", help="confirmed, corrected or revoked")],
    reasons: Reasons,
    record: Annotated[
        Path | None,
        typer.Option("--record", help="The corrected record as a JSON file (for corrected)"),
    ] = None,
    provider: Annotated[
        str | None, typer.Option("--as-provider", help="Refuse unless the record is this one's")
    ] = None,
    db: Db = None,
    secret_file: SecretFile = None,
) -> None:
    """The provider's answer to a dispute, with reasons."""
    registry = Registry.open(db, secret_file)
    correction = None
    if record is not None:
        try:
            correction = orjson.loads(record.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise CommandError(f"--record {record}: not a readable JSON file ({exc})") from None
    _show(cases.answer_dispute(registry, case_id, provider, outcome, reasons, correction, _actor()))


@dispute_app.command("pending")
@user_errors
def dispute_pending(
    provider: Annotated[
        str | None, typer.Option("--provider", help="Only this provider's records")
    ] = None,
    db: Db = None,
    secret_file: SecretFile = None,
) -> None:
    """Open disputes awaiting an answer, the nearest deadline first."""
    registry = Registry.open(db, secret_file)
    with registry.engine.connect() as conn:
        found = cases.pending(conn, CaseKind.DISPUTE, provider)
    emit([c.to_json(clock.today()) for c in found])


@dispute_app.command("list")
@user_errors
def dispute_list(subject: Subject, db: Db = None, secret_file: SecretFile = None) -> None:
    """A subject's disputes, each with its timeline."""
    _list(subject, CaseKind.DISPUTE, db, secret_file)


@dispute_app.command("show")
@user_errors
def dispute_show(case_id: CaseId, db: Db = None, secret_file: SecretFile = None) -> None:
    """One case of any kind, with its timeline."""
    registry = Registry.open(db, secret_file)
    with registry.engine.connect() as conn:
        case = cases.load(conn, case_id)
    if case is None:
        raise CommandError(f"there is no case {case_id!r}")
    _show(case)


def _list(subject: str, kind: CaseKind, db: str | None, secret_file: Path | None) -> None:
    registry = Registry.open(db, secret_file)
    file = _file(registry, subject)
    with registry.engine.connect() as conn:
        found = cases.for_subject(conn, file.subject.id, kind)
    emit([c.to_json(clock.today()) for c in found])


# -- reviews ------------------------------------------------------------------------------------
@review_app.command("open")
@user_errors
def review_open(
    subject: Subject,
    rulebook: Annotated[str, typer.Option("--rulebook", help="The rulebook of the list")],
    list_code: Annotated[str, typer.Option("--list", help="The list decision to review")],
    reason: Annotated[str, typer.Option("--reason", help="Why a person should look")],
    db: Db = None,
    secret_file: SecretFile = None,
) -> None:
    """Ask for a person to review an automated list decision."""
    registry = Registry.open(db, secret_file)
    file = _file(registry, subject)
    _show(cases.open_review(registry, file, rulebook, list_code, reason, _actor()))


@review_app.command("decide")
@user_errors
def review_decide(
    case_id: CaseId,
    outcome: Annotated[str, typer.Option("--outcome", help="upheld or overturned")],
    reasons: Reasons,
    db: Db = None,
    secret_file: SecretFile = None,
) -> None:
    """A person's decision on a review, with reasons."""
    registry = Registry.open(db, secret_file)
    _show(cases.answer_review(registry, case_id, outcome, reasons, _actor()))


@review_app.command("list")
@user_errors
def review_list(subject: Subject, db: Db = None, secret_file: SecretFile = None) -> None:
    """A subject's reviews."""
    _list(subject, CaseKind.REVIEW, db, secret_file)


# -- repair and deletion ------------------------------------------------------------------------
@repair_app.command("apply")
@user_errors
def repair_apply(
    subject: Subject,
    provider: Provider,
    ref: Ref,
    commitment: Annotated[str, typer.Option("--commitment", help="The credit commitment")],
    db: Db = None,
    secret_file: SecretFile = None,
) -> None:
    """Apply for credit repair of a record, after the rulebook's minimum publicity period."""
    registry = Registry.open(db, secret_file)
    file = _file(registry, subject)
    _show(cases.apply_repair(registry, file, provider, ref, commitment, _actor()))


@repair_app.command("decide")
@user_errors
def repair_decide(
    case_id: CaseId,
    reasons: Reasons,
    approve: Annotated[
        bool, typer.Option("--approve/--refuse", help="Approve or refuse the application")
    ],
    db: Db = None,
    secret_file: SecretFile = None,
) -> None:
    """Approve (the rulebook's repair applies) or refuse a repair application, with reasons."""
    registry = Registry.open(db, secret_file)
    _show(cases.decide_repair(registry, case_id, approve, reasons, _actor()))


@repair_app.command("list")
@user_errors
def repair_list(subject: Subject, db: Db = None, secret_file: SecretFile = None) -> None:
    """A subject's repair applications."""
    _list(subject, CaseKind.REPAIR, db, secret_file)


@repair_app.command("delete-positive")
@user_errors
def repair_delete_positive(
    subject: Subject, provider: Provider, ref: Ref, db: Db = None, secret_file: SecretFile = None
) -> None:
    """Delete one of the subject's own positive records at their request."""
    registry = Registry.open(db, secret_file)
    file = _file(registry, subject)
    _show(cases.delete_positive(registry, file, provider, ref, _actor()))


# -- notices ------------------------------------------------------------------------------------
@notices_app.command("list")
@user_errors
def notices_list(subject: Subject, db: Db = None, secret_file: SecretFile = None) -> None:
    """A subject's notices (brought up to date first)."""
    registry = Registry.open(db, secret_file)
    file = _file(registry, subject)
    outbox.notify(registry, file)
    with registry.engine.connect() as conn:
        emit(outbox.for_subject(conn, file.subject.id))


@notices_app.command("sweep")
@user_errors
def notices_sweep(db: Db = None, secret_file: SecretFile = None) -> None:
    """Write the notices every subject is owed (run after a bulk import)."""
    registry = Registry.open(db, secret_file)
    emit({"written": outbox.sweep(registry)})


@notices_app.command("work")
@user_errors
def notices_work(
    db: Db = None,
    secret_file: SecretFile = None,
    once: Annotated[
        bool, typer.Option("--once", help="Stop when no subject is owed notices any more")
    ] = False,
) -> None:
    """Write the notices that submitted records leave owed, as they come, in a process of
    its own (what `scs serve --notice-workers N` starts), or until none are owed (--once).
    SIGINT or SIGTERM stops it after the round under way (exit 0)."""
    import signal

    from socialcredit import notice_worker

    registry = Registry.open(db, secret_file)
    stopping: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda number, _frame: stopping.append(number))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        written = notice_worker.work(registry, once=once, alive=lambda: not stopping)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    emit({"written": written})


@notices_app.command("deliver")
@user_errors
def notices_deliver(
    to: Annotated[str, typer.Option("--to", help="file:PATH (JSON lines) or an http(s) URL")],
    db: Db = None,
    secret_file: SecretFile = None,
) -> None:
    """Send undelivered notices through a channel and mark them delivered."""
    registry = Registry.open(db, secret_file)
    try:
        channel = channel_for(to)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    try:
        sent = outbox.deliver(registry, channel)
    except OSError as exc:
        raise CommandError(f"delivery through {channel.name} failed: {exc}") from None
    emit({"delivered": sent, "channel": channel.name})


# -- report and archive -------------------------------------------------------------------------
@user_errors
def report(
    subject: Subject,
    db: Db = None,
    secret_file: SecretFile = None,
    format: Annotated[str, typer.Option("--format", help="json, html or pdf")] = "json",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (default stdout)")
    ] = None,
    as_of: AsOf = None,
) -> None:
    """A subject's credit report: scores, chart, lists, records, disputes, repairs, notices."""
    if format not in credit_report.FORMATS:
        raise CommandError(f"--format {format!r}: use one of {', '.join(credit_report.FORMATS)}")
    registry = Registry.open(db, secret_file)
    file = _file(registry, subject)
    body = credit_report.render(credit_report.gather(registry, file, as_of_date(as_of)), format)
    if output is None:
        if format == "pdf" and sys.stdout.isatty():
            raise CommandError("a PDF goes to a file: give --output report.pdf")
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    else:
        output.write_bytes(body)
        typer.echo(f"wrote {output} ({len(body):,} bytes)", err=True)


@user_errors
def archive_(db: Db = None, secret_file: SecretFile = None, as_of: AsOf = None) -> None:
    """Erase the personal data of records past the rulebook's retention period."""
    registry = Registry.open(db, secret_file)
    emit(archive.erase_expired(registry, as_of_date(as_of), _actor()).to_json())
