"""Notices in bulk after submissions, on SQLite and PostgreSQL: ``outbox.notify_subjects``
writes exactly what ``outbox.notify`` would for each subject; a submission marks the subjects
of its adverse records as owed their notices in its own transaction, and a notice writer
(``outbox.drain``, the server's or a worker's) writes them and settles the mark together."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from socialcredit.identifiers import SubjectKind
from socialcredit.store import ledger, outbox
from socialcredit.store.registry import Registry, RegistryError
from socialcredit.store.schema import notices, notices_owed
from tests.conftest import PERSON, PERSON_2, record
from tests.test_cli import scs_process
from tests.test_due_process import DEBTOR


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCS_CLOCK", "2026-11-01")


def ids(registry: Registry, *numbers: str) -> list[int]:
    found = [registry.find_subject(SubjectKind.PERSON, n) for n in numbers]
    return [f.id for f in found if f is not None]


def test_notify_subjects_writes_what_notify_would_for_each(registry: Registry) -> None:
    validator = registry.validator()
    other = record(ref="D-2", provider="court.rongcheng", type="court.dishonest_debtor",
                   occurred_on="2026-02-01", subject={"kind": "person", "id": PERSON_2},
                   legal_basis="Civil Procedure Law art. 255")  # fmt: skip
    registry.append([validator.from_json(DEBTOR), validator.from_json(other)])
    written = outbox.notify_subjects(registry, ids(registry, PERSON, PERSON_2))
    assert written >= 4  # an adverse-record and a listing notice each
    for number in (PERSON, PERSON_2):  # nothing left that the one-subject path would write
        assert outbox.notify(registry, registry.subject_file(SubjectKind.PERSON, number)) == 0
    assert outbox.notify_subjects(registry, ids(registry, PERSON, PERSON_2)) == 0  # idempotent


def test_notify_subjects_after_notify_writes_nothing_new(registry: Registry) -> None:
    registry.append([registry.validator().from_json(DEBTOR)])
    assert outbox.notify(registry, registry.subject_file(SubjectKind.PERSON, PERSON)) > 0
    assert outbox.notify_subjects(registry, ids(registry, PERSON)) == 0


def test_unknown_and_positive_only_subjects_get_nothing(registry: Registry) -> None:
    assert outbox.notify_subjects(registry, [987654]) == 0
    volunteer = record(provider="civil_affairs.rongcheng", ref="V-1", type="volunteer.hours",
                       quantity=25, amount=None, occurred_on="2026-10-01")  # fmt: skip
    registry.append([registry.validator().from_json(volunteer)])
    assert outbox.notify_subjects(registry, ids(registry, PERSON)) == 0


# -- notices owed: marked with the records, written and settled together ------------------------
def submit(registry: Registry, *items: dict[str, object]) -> None:
    """Append as ``POST /v1/records`` does: prepared, with the notices owed marked."""
    preparer = registry.preparer()
    registry.append_prepared([preparer.prepare_json(i) for i in items], owe_notices=True)


def owed(registry: Registry) -> dict[int, int]:
    with registry.engine.connect() as conn:
        return dict(conn.execute(select(notices_owed.c.subject_id, notices_owed.c.seq)).all())


def written(registry: Registry) -> list[tuple[int, str]]:
    with registry.engine.connect() as conn:
        rows = conn.execute(select(notices.c.subject_id, notices.c.key))
        return sorted((int(subject), str(key)) for subject, key in rows)


def test_adverse_records_mark_their_subjects_owed_in_the_same_transaction(
    registry: Registry,
) -> None:
    volunteer = record(provider="civil_affairs.rongcheng", ref="V-1", type="volunteer.hours",
                       quantity=25, amount=None, occurred_on="2026-10-01",
                       subject={"kind": "person", "id": PERSON_2})  # fmt: skip
    submit(registry, DEBTOR, volunteer)
    debtor, volunteer_id = ids(registry, PERSON, PERSON_2)
    assert set(owed(registry)) == {debtor}  # a positive record starts no restriction
    assert written(registry) == []  # nothing written before a notice writer runs
    done = outbox.drain(registry)
    assert done.subjects == 1 and done.written >= 2  # the record's notice and the listing's
    assert owed(registry) == {}
    keys = written(registry)
    assert all(subject == debtor for subject, _ in keys) and volunteer_id not in dict(keys)
    assert outbox.drain(registry) == outbox.Round(0, 0)
    # The same notices the one-subject path writes: it finds nothing left to write.
    assert outbox.notify(registry, registry.subject_file(SubjectKind.PERSON, PERSON)) == 0


def test_a_duplicate_submission_owes_nothing(registry: Registry) -> None:
    submit(registry, DEBTOR)
    outbox.drain(registry)
    submit(registry, DEBTOR)  # the same record again: a duplicate, nothing lands
    assert owed(registry) == {}


def test_a_failed_submission_leaves_nothing_owed(registry: Registry) -> None:
    item = registry.preparer().prepare_json(DEBTOR)
    with pytest.raises(RuntimeError), registry.writing() as conn:
        batch = ledger.append_prepared(conn, [item], registry.resolver, "2026-11-01T00:00:00Z")
        outbox.owe(conn, [registry.resolver.id_of(item[1])], batch.seq)
        raise RuntimeError("the process dies before the commit")
    assert owed(registry) == {} and registry.find_subject(SubjectKind.PERSON, PERSON) is None


def test_a_subject_marked_again_while_its_notices_are_written_stays_owed(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(registry, DEBTOR)
    (debtor,) = ids(registry, PERSON)
    read = outbox._wanted
    fine = record(ref="T-9", occurred_on="2026-10-20", amount=300)

    def and_meanwhile(*args: Any) -> Any:
        found = read(*args)  # the writer has read the subject's file …
        submit(registry, fine)  # … and a later record about them lands before it settles
        return found

    monkeypatch.setattr(outbox, "_wanted", and_meanwhile)
    assert outbox.drain(registry).subjects == 1
    monkeypatch.setattr(outbox, "_wanted", read)
    assert set(owed(registry)) == {debtor}  # not settled: the fine was not looked at
    outbox.drain(registry)
    assert owed(registry) == {}
    assert any(key.endswith(":T-9") for _, key in written(registry))


def test_the_notice_worker_writes_what_is_owed_and_stops_when_once(registry: Registry) -> None:
    from socialcredit import notice_worker

    other = record(ref="D-2", provider="court.rongcheng", type="court.dishonest_debtor",
                   occurred_on="2026-02-01", subject={"kind": "person", "id": PERSON_2},
                   legal_basis="Civil Procedure Law art. 255")  # fmt: skip
    submit(registry, DEBTOR, other)
    assert notice_worker.work(registry, once=True) >= 4
    assert owed(registry) == {} and notice_worker.work(registry, once=True) == 0


# -- the server's writer and its worker processes ------------------------------------------------
def test_a_starting_server_writes_what_an_earlier_run_left_owed(registry: Registry) -> None:
    from fastapi.testclient import TestClient

    from socialcredit.api.app import create_app

    submit(registry, DEBTOR)  # landed, then the server stopped before writing its notices
    with TestClient(create_app(registry)) as client:  # runs the app's lifespan
        for _ in range(200):
            if not owed(registry):
                break
            time.sleep(0.05)
        metrics = client.get("/metrics").text
    assert owed(registry) == {} and len(written(registry)) >= 2
    assert "scs_notices_pending 0.0" in metrics


@dataclass
class Served:
    """``scs serve --notice-workers 1`` running in a process of its own."""

    url: str
    process: subprocess.Popen[bytes]
    workers: list[int]
    stderr: Path


@pytest.fixture
def served(registry: Registry, db_url: str, tmp_path: Path) -> Iterator[Served]:
    if not db_url.startswith("sqlite"):
        pytest.skip("a matter of processes; the notices' writes are tested on both stores")
    command, env = scs_process()
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as errors:
        server = subprocess.Popen(
            [*command, "serve", "--db", db_url, "--port", "0", "--notice-workers", "1"],
            stderr=errors,
            env=env,
        )
    try:
        url = _served_at(stderr, server)
        yield Served(url, server, _children(server.pid), stderr)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_serve_with_a_notice_worker_writes_notices_in_another_process(
    registry: Registry, served: Served
) -> None:
    from socialcredit.store import keys
    from socialcredit.store.keys import Role

    _, token = keys.create(registry, Role.PROVIDER, provider="court.rongcheng")
    assert len(served.workers) == 1, served.workers
    with httpx.Client(base_url=served.url, timeout=30) as client:
        sent = client.post("/v1/records", json=DEBTOR, headers={"Authorization": f"Bearer {token}"})
        assert sent.status_code == 200 and sent.json()["accepted"] == 1, sent.text
        for _ in range(400):
            if re.search(r"^scs_notices_pending 0\.0$", client.get("/metrics").text, re.M):
                break
            time.sleep(0.05)
    assert owed(registry) == {} and len(written(registry)) >= 2
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=30) == 0, served.stderr.read_text()
    assert all(_gone(pid) for pid in served.workers)  # stopped with the server


def test_a_notice_worker_ends_when_its_server_is_killed(served: Served) -> None:
    assert served.workers
    served.process.kill()  # no chance to stop its workers
    served.process.wait()
    deadline = time.monotonic() + 20
    while not all(_gone(pid) for pid in served.workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(_gone(pid) for pid in served.workers)


def _served_at(stderr: Path, server: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"on (http://\S+)", stderr.read_text())
        if found:
            return found.group(1)
        assert server.poll() is None, stderr.read_text()
        time.sleep(0.05)
    pytest.fail(f"scs serve did not start: {stderr.read_text()}")


def _children(pid: int) -> list[int]:
    """The server's worker processes (multiprocessing's spawn also starts a resource tracker
    only when something needs one; a worker is a child running ``spawn_main``)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [
            child
            for child in _child_pids(pid)
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
        ]
        if found:
            return found
        time.sleep(0.05)
    return []


def _child_pids(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in state


def test_migration_0005_adds_the_notices_owed_as_the_schema_has_them(db_url: str) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from socialcredit.store import database
    from socialcredit.store.schema import metadata

    engine = database.open_engine(db_url)
    command.upgrade(database.alembic_config(engine), "0004")
    assert "notices_owed" not in inspect(engine).get_table_names()
    registry = Registry.init(db_url, actor="test")  # upgrades to head
    columns = {c["name"] for c in inspect(registry.engine).get_columns("notices_owed")}
    assert columns == set(metadata.tables["notices_owed"].columns.keys())
    command.downgrade(database.alembic_config(registry.engine), "0004")
    assert "notices_owed" not in inspect(registry.engine).get_table_names()
    head = database._head()  # the newest revision, whichever it is now
    with pytest.raises(RegistryError, match=rf"revision 0004; .* needs {head}: run `scs init`"):
        Registry.open(db_url)  # an older schema is refused by name, not met by a failing query
    Registry.init(db_url)
    assert Registry.open(db_url).engine is not None


# -- imports owe notices too ---------------------------------------------------------------------
def test_an_import_marks_its_adverse_subjects_and_notices_work_writes_them(
    registry: Registry, db_url: str, tmp_path: Path
) -> None:
    from tests.test_cli import ok, out, write_jsonl

    path = write_jsonl(tmp_path / "in.jsonl", DEBTOR, record(ref="T-1"))
    assert out(ok("import", path, "--db", db_url))["accepted"] == 2
    (debtor,) = ids(registry, PERSON)
    assert set(owed(registry)) == {debtor} and written(registry) == []
    assert out(ok("notices", "work", "--once", "--db", db_url))["written"] >= 2
    assert owed(registry) == {}
    assert out(ok("notices", "work", "--once", "--db", db_url)) == {"written": 0}


def test_a_serving_server_writes_the_notices_of_an_import_made_meanwhile(
    registry: Registry,
) -> None:
    from fastapi.testclient import TestClient

    from socialcredit.api.app import create_app

    app = create_app(registry)
    app.state.notice_writer.idle = 0.05
    with TestClient(app):
        submit(registry, DEBTOR)  # as ``scs import`` does, behind the server's back
        for _ in range(200):
            if not owed(registry):
                break
            time.sleep(0.05)
    assert owed(registry) == {} and len(written(registry)) >= 2


def test_notices_work_writes_as_records_come_and_stops_cleanly_on_sigterm(
    registry: Registry, db_url: str
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("a matter of processes; the notices' writes are tested on both stores")
    command, env = scs_process()
    worker = subprocess.Popen(
        [*command, "notices", "work", "--db", db_url], stdout=subprocess.PIPE, env=env
    )
    try:
        submit(registry, DEBTOR)  # lands while the worker runs
        deadline = time.monotonic() + 30
        while owed(registry) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert owed(registry) == {}
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=30)
        assert worker.returncode == 0
        assert orjson.loads(out)["written"] >= 2
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_workers_split_what_is_owed_by_share(registry: Registry) -> None:
    other = record(ref="D-2", provider="court.rongcheng", type="court.dishonest_debtor",
                   occurred_on="2026-02-01", subject={"kind": "person", "id": PERSON_2},
                   legal_basis="Civil Procedure Law art. 255")  # fmt: skip
    submit(registry, DEBTOR, other)
    marked = sorted(owed(registry))
    assert len(marked) == 2
    even, odd = [s for s in marked if s % 2 == 0], [s for s in marked if s % 2 == 1]
    assert outbox.drain(registry, share=(0, 2)).subjects == len(even)
    assert sorted(owed(registry)) == odd  # the other worker's share is left alone
    assert outbox.drain(registry, share=(1, 2)).subjects == len(odd)
    assert owed(registry) == {} and outbox.drain(registry) == outbox.Round(0, 0)
