"""Opening a registry database: URLs, SQLite pragmas, write locks and migrations.

SQLite runs in WAL mode so readers never block the writer; writers begin with
``BEGIN IMMEDIATE`` so two importers cannot interleave half a batch. PostgreSQL gets the same
schema through the same Alembic migrations; there the chain-head row lock serialises writers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from functools import cache, lru_cache
from importlib import resources
from operator import is_not, itemgetter
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url

DEFAULT_URL = "sqlite:///socialcredit.db"
ENV_URL = "SCS_DATABASE_URL"
WRITER = {"sqlite_immediate": True}

_log = logging.getLogger(__name__)


class DatabaseError(RuntimeError):
    """The database cannot be opened or is not a registry; the message says what to do."""


def database_url(url: str | None = None) -> URL:
    """The URL to use: the given one, else ``SCS_DATABASE_URL``, else ``./socialcredit.db``.

    ``postgresql://`` is mapped to the psycopg 3 driver; a bare path is taken as SQLite.
    """
    text = url or os.environ.get(ENV_URL) or DEFAULT_URL
    if "://" not in text:
        text = f"sqlite:///{text}"
    try:
        parsed = make_url(text)
    except Exception as exc:  # SQLAlchemy raises ArgumentError for malformed URLs
        raise DatabaseError(f"not a database URL: {text!r} ({exc})") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseError(
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite:/// or postgresql://"
        )
    return parsed


def open_engine(url: str | URL | None = None) -> Engine:
    """An engine for the registry at ``url`` with the store's connection settings."""
    parsed = url if isinstance(url, URL) else database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return create_engine(parsed, pool_pre_ping=True)


#: Pages of WAL after which a committing connection copies it back into the database: ~80 MB
#: rather than SQLite's 4 MB default, since bulk imports write in big batches.
WAL_AUTOCHECKPOINT = 10_000


def _sqlite_engine(url: URL) -> Engine:
    if url.database and url.database != ":memory:":
        parent = Path(url.database).expanduser().resolve().parent
        if not parent.is_dir():
            raise DatabaseError(f"directory {parent} does not exist")
    # A pool as big as the API server's worker threads: connections beyond the pool are
    # closed on return, and opening one (with the pragmas below) costs more than a check.
    on_file = bool(url.database) and url.database != ":memory:"
    engine = create_engine(url, **({"pool_size": 40, "max_overflow": 40} if on_file else {}))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event issue BEGIN itself (pysqlite's implicit transactions
        # would defer the write lock to the first write, too late for the chain head).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # 8 KiB pages measured ~15% faster for ledger inserts than the 4 KiB default; only
        # takes effect on a new, empty database (before WAL is switched on).
        cursor.execute("PRAGMA page_size=8192")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def placeholder(conn: Connection) -> str:
    """The driver's parameter marker, for SQL sent past SQLAlchemy on hot paths: ``?`` for
    sqlite3, ``%s`` for psycopg."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


#: Values in one IN list of ``select_in``: well under SQLite's limit of bound parameters.
IN_CHUNK = 500


def select_in(
    conn: Connection, template: str, values: Sequence[Any], leading: tuple[Any, ...] = ()
) -> Iterator[tuple[Any, ...]]:
    """Run ``template`` with an IN list over ``values`` in chunks, at the driver level
    (``{mark}`` is one parameter marker, ``{marks}`` the list's; ``leading`` binds first).

    SQLAlchemy's expanding IN parameters and row processing cost more per value than the
    index look-up itself, and an import, a notice writer and a batch check run many.
    """
    mark = placeholder(conn)
    for start in range(0, len(values), IN_CHUNK):
        chunk = values[start : start + IN_CHUNK]
        sql = template.format(mark=mark, marks=", ".join([mark] * len(chunk)))
        yield from conn.exec_driver_sql(sql, (*leading, *chunk))


def insert_rows(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert ``rows`` (values of ``columns``, in order) at the driver, without binding NULLs.

    Python's ``sqlite3`` binds a None (or a ``bytes``) parameter only after looking for an
    adapter for it, about 1 µs each, where an int or a text costs a tenth of that: a ledger
    row's seven NULLs and two hashes cost more than SQLite's whole insert of the row
    (in-process, 1,000-row batches: 21 µs a row, 11 µs with the NULLs left out and the
    hashes as ``bytearray``). So on SQLite the rows are grouped by which of their values are
    None, and each group is inserted naming only the other columns, which then default to
    NULL; callers that care pass binary values as ``bytearray``, which binds directly. The
    stored rows are the same. psycopg has no such cost: there it is one ``executemany``.
    """
    if not rows:
        return
    mark = placeholder(conn)
    if mark != "?":
        conn.exec_driver_sql(insert_sql(table, tuple(columns), mark), list(rows))
        return
    nones = (None,) * len(columns)
    shapes: dict[tuple[bool, ...], list[tuple[Any, ...]]] = {}
    for row in rows:
        shape = tuple(map(is_not, row, nones))
        group = shapes.get(shape)
        if group is None:
            shapes[shape] = [row]
        else:
            group.append(row)
    for shape, group in shapes.items():
        if all(shape) or not any(shape):  # nothing to leave out, or nothing else to name
            conn.exec_driver_sql(insert_sql(table, tuple(columns), mark), group)
            continue
        kept = [i for i, present in enumerate(shape) if present]
        pick = itemgetter(*kept)
        values = [pick(row) for row in group] if len(kept) > 1 else [(pick(r),) for r in group]
        conn.exec_driver_sql(insert_sql(table, tuple(columns[i] for i in kept), mark), values)


@lru_cache(maxsize=1024)
def insert_sql(table: str, columns: tuple[str, ...], mark: str) -> str:
    """``INSERT INTO table (columns) VALUES (…)`` with ``mark`` as the parameter marker."""
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"


def alembic_config(engine: Engine) -> Config:
    config = alembic_config_for_scripts()
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Create the schema or bring it up to the newest migration (idempotent)."""
    command.upgrade(alembic_config(engine), "head")


@cache
def _head() -> str | None:
    return ScriptDirectory.from_config(alembic_config_for_scripts()).get_current_head()


def alembic_config_for_scripts() -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("socialcredit.store").joinpath("migrations"))
    )
    return config


def schema_behind(engine: Engine) -> tuple[str | None, str] | None:
    """``(stored, newest)`` revisions if the database's schema is older than this version of
    socialcredit needs (``scs init`` upgrades it), else None."""
    with engine.connect() as conn:
        stored = MigrationContext.configure(conn).get_current_revision()
    newest = _head()
    return None if newest is None or stored == newest else (stored, newest)


def is_initialised(engine: Engine) -> bool:
    return inspect(engine).has_table("meta")


def checkpoint(engine: Engine) -> None:
    """One passive checkpoint of a SQLite database's WAL: it copies what no reader still
    needs, waits for nobody, and writers go on committing meanwhile. A failure is not the
    caller's: the next checkpoint (or SQLite's own, on another connection) copies the pages
    later."""
    try:
        conn = engine.raw_connection()  # not ``connect()``: its BEGIN would hold a snapshot
        try:
            cursor = conn.cursor()
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            cursor.fetchall()
            cursor.close()
        finally:
            conn.close()
    except Exception:
        _log.warning("WAL checkpoint failed", exc_info=True)
