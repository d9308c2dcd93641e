"""The ``scs`` command: set up a registry, register providers, import, amend and verify.

Every command takes ``--db URL`` (or ``SCS_DATABASE_URL``); machine-readable results go to
stdout as JSON, progress and messages to stderr, so commands compose in scripts.
"""

from __future__ import annotations

import atexit
import gc
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.markup import escape

from socialcredit import __version__
from socialcredit.api.serve import Burst, Host, Port, Rate, run, serve
from socialcredit.catalog import make_record_type
from socialcredit.console import (
    CommandError,
    Db,
    SecretFile,
    emit,
    err,
    progress_bar,
    user_errors,
)
from socialcredit.due_cli import archive_, dispute_app, notices_app, repair_app, report, review_app
from socialcredit.importer import BATCH_SIZE, Format, InputUnreadable, detect_format, import_file
from socialcredit.importer import progress_total as import_total
from socialcredit.keys_cli import app as key_app
from socialcredit.rulebook_cli import app as rulebook_app
from socialcredit.scoring_cli import explain, rescore, score, sort_records
from socialcredit.sim_cli import simulate_command
from socialcredit.store import audit_index
from socialcredit.store.registry import Registry

if TYPE_CHECKING:
    from socialcredit.demo_registry import Visit

app = typer.Typer(
    name="scs",
    help="socialcredit: an open, auditable social credit registry.",
    no_args_is_help=True,
    add_completion=False,
)
provider_app = typer.Typer(help="Authorities that submit records.", no_args_is_help=True)
type_app = typer.Typer(
    help="Record types an operator adds to the shipped catalogs.", no_args_is_help=True
)
legacy_app = typer.Typer(
    help="The audited allow-list of legacy organisation codes.", no_args_is_help=True
)
app.add_typer(rulebook_app, name="rulebook")
app.add_typer(provider_app, name="provider")
app.add_typer(type_app, name="type")
app.add_typer(legacy_app, name="legacy")
app.add_typer(key_app, name="key")
app.add_typer(dispute_app, name="dispute")
app.add_typer(review_app, name="review")
app.add_typer(repair_app, name="repair")
app.add_typer(notices_app, name="notices")
audit_app = typer.Typer(help="The audit log of reads: its subject index.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.command()(serve)
app.command()(report)
app.command("archive")(archive_)


@app.command()
@user_errors
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command()
@user_errors
def init(db: Db = None, secret_file: SecretFile = None) -> None:
    """Create a registry database (or upgrade its schema) and its identifier secret."""
    registry = Registry.init(db, secret_file)
    emit({"database": registry.url, **registry.counts()})


# -- providers, types, legacy codes ------------------------------------------------------------
@provider_app.command("add")
@user_errors
def provider_add(
    name: Annotated[str, typer.Argument(help="e.g. court.rongcheng")],
    more_types: Annotated[list[str] | None, typer.Argument(hidden=True)] = None,
    types: Annotated[
        list[str] | None,
        typer.Option(
            "--types", help="Record type codes or patterns (court.*); several may follow --types"
        ),
    ] = None,
    db: Db = None,
    secret_file: SecretFile = None,
) -> None:
    """Register a provider allowed to submit the given record types."""
    patterns = [p for item in (types or []) + (more_types or []) for p in item.split(",") if p]
    provider = Registry.open(db, secret_file).add_provider(name, patterns)
    emit({"provider": provider.name, "types": list(provider.type_patterns)})


@provider_app.command("list")
@user_errors
def provider_list(db: Db = None, secret_file: SecretFile = None) -> None:
    """List providers and their allowed record types."""
    providers = Registry.open(db, secret_file).providers()
    emit([{"provider": p.name, "types": list(p.type_patterns)} for p in providers.values()])


@type_app.command("add")
@user_errors
def type_add(
    code: str,
    title: Annotated[str, typer.Option(help="What the record says, in plain words")],
    category: Annotated[str, typer.Option(help="The class used by counting rules")],
    polarity: Annotated[str, typer.Option(help="negative or positive")],
    kinds: Annotated[
        str, typer.Option(help="person, organisation, institution, a comma list, or any")
    ] = "any",
    db: Db = None,
    secret_file: SecretFile = None,
) -> None:
    """Add an operator's own record type (refused if it crosses a line we do not cross)."""
    record_type = make_record_type(code, title, category, polarity, kinds)
    Registry.open(db, secret_file).add_record_type(record_type)
    emit({"type": record_type.code, "subject_kinds": record_type.kinds_text})


@type_app.command("list")
@user_errors
def type_list(db: Db = None, secret_file: SecretFile = None) -> None:
    """List the record types the registry accepts."""
    types = Registry.open(db, secret_file).record_types()
    emit(
        [
            {
                "code": t.code,
                "title": t.title,
                "category": t.category,
                "polarity": t.polarity.value,
                "subject_kinds": t.kinds_text,
                "source": t.source,
            }
            for t in sorted(types.values(), key=lambda t: t.code)
        ]
    )


@legacy_app.command("allow")
@user_errors
def legacy_allow(
    code: str,
    reason: Annotated[str, typer.Option(help="Why this code is genuine (kept in the log)")],
    db: Db = None,
    secret_file: SecretFile = None,
) -> None:
    """Accept an early pilot organisation code that fails the check character."""
    Registry.open(db, secret_file).allow_legacy_code(code, reason)
    emit({"allowed": code.strip().upper()})


# -- records ------------------------------------------------------------------------------------
@app.command("import")
@user_errors
def import_(
    file: Annotated[Path, typer.Argument(help="JSON Lines, CSV or Parquet")],
    db: Db = None,
    secret_file: SecretFile = None,
    format: Annotated[
        Format | None, typer.Option("--format", help="Override the format the suffix implies")
    ] = None,
    rejects: Annotated[
        Path | None, typer.Option(help="Where to write rejected rows (default FILE.rejects.jsonl)")
    ] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="Rows per transaction")
    ] = BATCH_SIZE,
) -> None:
    """Import records; exit 0 if all landed, 1 if some were rejected, 2 if unreadable."""
    # The exit's full collection would walk the import's caches of subjects (about a second
    # after a million records) for cycles the import never makes; see ``intake.init_worker``.
    atexit.register(gc.freeze)
    registry = Registry.open(db, secret_file)
    started = time.perf_counter()
    try:
        fmt = detect_format(file, format)
        with progress_bar(
            f"importing {file.name}", import_total(file, fmt), bytes_=fmt is not Format.PARQUET
        ) as advance:
            summary = import_file(registry, file, fmt, rejects, batch_size, advance)
    except InputUnreadable as exc:
        # Nothing of the file could be read; batches before a late failure would show in
        # `scs status`, but the readers refuse whole files before the first batch.
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        emit(
            {"accepted": 0, "duplicates": 0, "rejected": 0, "rejects_file": None, "error": str(exc)}
        )
        raise typer.Exit(2) from None
    elapsed = time.perf_counter() - started
    emit(summary.to_json())
    done = summary.accepted + summary.duplicates
    err.print(
        f"{summary.rows} rows in {elapsed:.1f} s ({summary.rows / max(elapsed, 1e-9):,.0f}"
        f" rows/s): {done} stored or already present, {summary.rejected} rejected",
        markup=False,
        highlight=False,
    )
    if summary.errors_by_field:
        by_count = sorted(summary.errors_by_field.items(), key=lambda kv: -kv[1])
        err.print(
            "rejections by field: " + ", ".join(f"{k} {v}" for k, v in by_count),
            markup=False,
            highlight=False,
        )
    if summary.exit_code == 2:
        err.print(
            f"error: no row of the file could be read as {fmt.value}; is it really that format?",
            markup=False,
            highlight=False,
        )
    raise typer.Exit(summary.exit_code)


@app.command()
@user_errors
def revoke(
    provider: Annotated[str, typer.Option(help="The provider that filed the record")],
    ref: Annotated[str, typer.Option(help="The provider's reference of the record")],
    reason: Annotated[str, typer.Option(help="Why the record is withdrawn")],
    own_ref: Annotated[
        str | None, typer.Option(help="The provider's reference of this revocation")
    ] = None,
    db: Db = None,
    secret_file: SecretFile = None,
) -> None:
    """Withdraw a record: a new ledger entry, the original stays as history."""
    seq = Registry.open(db, secret_file).revoke(provider, ref, reason, own_ref)
    emit({"revoked": ref, "provider": provider, "seq": seq})


@app.command()
@user_errors
def correct(
    ref: Annotated[str, typer.Option(help="The provider's reference of the record to correct")],
    record: Annotated[
        Path,
        typer.Argument(help="A JSON file with the corrected record, which carries its own new ref"),
    ],
    reason: Annotated[str, typer.Option(help="What was wrong")],
    db: Db = None,
    secret_file: SecretFile = None,
) -> None:
    """Replace a record by a corrected one (both stay in the ledger)."""
    registry = Registry.open(db, secret_file)
    try:
        data = orjson.loads(record.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise InputUnreadable(f"{record}: {exc}") from None
    new = registry.validator().from_json(data)
    seq = registry.correct(ref, new, reason)
    emit({"corrected": ref, "by": new.ref, "provider": new.provider, "seq": seq})


@app.command()
@user_errors
def verify(
    db: Db = None,
    secret_file: SecretFile = None,
    anchor: Annotated[
        list[str] | None,
        typer.Option(
            metavar="SEQ:HASH",
            help="A ledger head recorded earlier (from `heads`); repeatable",
        ),
    ] = None,
) -> None:
    """Recompute both hash chains; exit 1 and name the first altered entry if one was."""
    anchors: dict[int, bytes] = {}
    for text in anchor or []:
        seq, _, digest = text.partition(":")
        try:
            anchors[int(seq)] = bytes.fromhex(digest)
        except ValueError:
            raise CommandError(f"--anchor {text!r} is not SEQ:HASH as `heads` prints it") from None
    report = Registry.open(db, secret_file).verify(anchors)
    emit(report.to_json())
    if not report.ok:
        err.print(f"[bold red]tampering detected:[/] {escape(str(report.problem))}")
        raise typer.Exit(1)


@audit_app.command("index")
@user_errors
def audit_index_(db: Db = None, secret_file: SecretFile = None) -> None:
    """Index every audit entry not yet in the subject index now. A running server does this
    by itself whenever 100,000 entries await; this is for a registry read without one."""
    registry = Registry.open(db, secret_file)
    emit({"indexed": audit_index.build_all(registry.engine)})


@app.command()
@user_errors
def status(db: Db = None, secret_file: SecretFile = None) -> None:
    """Counts of subjects, providers and ledger entries."""
    registry = Registry.open(db, secret_file)
    emit({"database": registry.url, **registry.counts()})


@app.command()
@user_errors
def demo(
    db: Annotated[str, typer.Option("--db", envvar="SCS_DATABASE_URL")] = "sqlite:///scs-demo.db",
    secret_file: SecretFile = None,
    people: int = 10_000,
    organisations: int = 1_000,
    institutions: int = 20,
    years: int = 3,
    seed: int = 7,
    serve_: Annotated[
        bool,
        typer.Option("--serve/--no-serve", help="Serve the API and web pages once built"),
    ] = True,
    host: Host = "127.0.0.1",
    port: Port = 8000,
    rate: Rate = 1000.0,
    burst: Burst = 2000,
) -> None:
    """Build the demo registry (once), make a key per role, and serve the API and web pages."""
    from socialcredit.demo_registry import build_demo, demo_city, make_visit

    with progress_bar("building the demo city", None, bytes_=False) as advance:
        made = build_demo(
            db, secret_file, people, organisations, institutions, years, seed, advance
        )
    if not serve_:
        emit(made)
        return
    registry = Registry.open(db, secret_file)
    city = demo_city(registry, people, organisations, institutions, years, seed)
    visit = make_visit(registry, city)

    def announce(url: str) -> None:
        _print_visit(url, registry.url, visit)
        line = {
            "url": url,
            "keys": visit.keys,
            "subject": visit.subject,
            "organisation": visit.organisation,
            "provider": visit.provider,
            "measures": visit.measures,
        }
        sys.stdout.write(orjson.dumps(line).decode() + "\n")
        sys.stdout.flush()

    run(registry, host, port, rate, burst, announce)


def _print_visit(url: str, database: str, visit: Visit) -> None:
    """The demo's keys and where to use them, for a person reading the terminal."""
    lines = [
        f"The demo registry ({database}) is served at {url}/",
        f"  web pages  {url}/            API docs  {url}/docs",
        f"  sign in at {url}/login with one of these keys (made now; `scs key list` shows them):",
    ]
    notes = {
        "provider": f"submits records for {visit.provider}",
        "consumer": f"checks {len(visit.measures)} measures, e.g. spc.flights",
        "subject": f"with the resident number {visit.subject}",
        "admin": "the dashboard and what-if",
        "auditor": "the audit trail (API only)",
    }
    for role, token in visit.keys.items():
        lines.append(f"    {role:<9} {token}  {notes[role]}")
    if visit.organisation:
        lines.append(f"  an organisation to look up: {url}/organisations/{visit.organisation}")
    lines.append("Stop it with Ctrl-C.")
    err.print("\n".join(lines), markup=False, highlight=False)


app.command("score")(score)
app.command("explain")(explain)
app.command("rescore")(rescore)
app.command("sort-records")(sort_records)
app.command("simulate")(simulate_command)
