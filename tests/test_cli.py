"""The `scs` command: JSON on stdout, one clear message on stderr, exit 0, 1 or 2 as documented."""

from __future__ import annotations

import gc
import os
import sqlite3
import stat
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

import socialcredit
from socialcredit import demo
from socialcredit.cli import app
from socialcredit.identifiers import mask_resident_id
from tests.conftest import LEGACY_ORG, record

RUNNER = CliRunner()


# -- helpers --------------------------------------------------------------------------------------
def scs(*args: Any) -> Result:
    return RUNNER.invoke(app, [str(a) for a in args])


def scs_process() -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run ``scs`` as a process of its own, from this
    checkout (installed or not), for tests that need a real process: signals, children."""
    source = str(Path(socialcredit.__file__).resolve().parent.parent)
    env = os.environ | {"PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    return [sys.executable, "-c", "from socialcredit.cli import app; app()"], env


def ok(*args: Any) -> Result:
    """Run a command that must succeed."""
    result = scs(*args)
    assert result.exit_code == 0, (args, said(result), result.exception)
    return result


def out(result: Result) -> Any:
    """The JSON a command printed on stdout."""
    return orjson.loads(result.stdout)


def said(result: Result) -> str:
    """What a command said on stderr, with the terminal's line wrapping undone."""
    return " ".join(result.stderr.split())


def db_file(url: str) -> Path:
    return Path(str(make_url(url).database))


def secret_file() -> Path:
    return Path(os.environ["SCS_SECRET_FILE"])


def sql(url: str, statement: str) -> None:
    """Change the database behind the registry's back, as an intruder would."""
    with closing(sqlite3.connect(db_file(url))) as conn, conn:
        conn.execute(statement)


def write_jsonl(path: Path, *records: Any) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def add_type(db: str, code: str, title: str, kinds: str = "any") -> Result:
    return scs(
        "type", "add", code, "--title", title, "--category", "conduct", "--polarity",
        "negative", "--kinds", kinds, "--db", db,
    )  # fmt: skip


@pytest.fixture
def db(sqlite_url: str) -> str:
    """An initialised registry whose traffic police may file traffic records."""
    ok("init", "--db", sqlite_url)
    ok("provider", "add", "police.traffic", "--types", "traffic.*", "--db", sqlite_url)
    ok("provider", "add", "tax.weihai", "--types", "tax.*", "--db", sqlite_url)
    return sqlite_url


@pytest.fixture
def filed(db: str, tmp_path: Path) -> str:
    """The registry of ``db`` holding three traffic records (refs T-1, T-2, T-3)."""
    path = write_jsonl(tmp_path / "in.jsonl", *(record(ref=f"T-{n}") for n in (1, 2, 3)))
    ok("import", path, "--db", db)
    return db


# -- init and the secret --------------------------------------------------------------------------
def test_init_creates_the_database_and_a_private_secret_kept_outside_it(sqlite_url: str) -> None:
    result = ok("init", "--db", sqlite_url)

    assert out(result)["database"] == sqlite_url and out(result)["records"] == 0
    assert db_file(sqlite_url).exists()
    assert stat.S_IMODE(secret_file().stat().st_mode) == 0o600
    secret = bytes.fromhex(secret_file().read_text().strip())
    assert len(secret) == 32
    gc.collect()  # let the command's engine close its connections
    stored = db_file(sqlite_url).read_bytes()
    assert secret not in stored and secret.hex().encode() not in stored


def test_init_twice_upgrades_in_place_and_keeps_what_is_there(filed: str) -> None:
    again = scs("init", "--db", filed)

    assert again.exit_code == 0, said(again)
    assert (out(again)["providers"], out(again)["records"]) == (2, 3)
    assert scs("verify", "--db", filed).exit_code == 0


def test_a_registry_opened_with_another_secret_is_refused_with_a_clear_message(
    db: str, tmp_path: Path
) -> None:
    other = tmp_path / "other.key"
    ok("init", "--db", f"sqlite:///{tmp_path / 'other.db'}", "--secret-file", other)

    wrong = scs("status", "--db", db, "--secret-file", other)
    missing = scs("status", "--db", db, "--secret-file", tmp_path / "nowhere.key")

    assert wrong.exit_code == 2 and "does not belong to this database" in said(wrong)
    assert missing.exit_code == 2 and "cannot read the identifier secret" in said(missing)
    assert wrong.stdout == missing.stdout == ""


def test_a_database_that_was_never_initialised_is_not_taken_for_a_registry(
    sqlite_url: str, tmp_path: Path
) -> None:
    result = scs("status", "--db", sqlite_url)
    assert result.exit_code == 2 and "there is no registry at" in said(result)
    assert not (tmp_path / "registry.db").exists()  # a mistyped path creates nothing

    sqlite3.connect(tmp_path / "registry.db").close()  # an empty database file
    result = scs("status", "--db", sqlite_url)
    assert result.exit_code == 2 and "run `scs init` first" in said(result)


# -- providers, record types and legacy codes -----------------------------------------------------
def test_a_provider_is_added_with_several_type_patterns_and_listed(db: str) -> None:
    added = scs(
        "provider", "add", "court.rongcheng", "--types", "court.*", "judgment.*", "--db", db
    )
    listed = scs("provider", "list", "--db", db)

    assert added.exit_code == 0, said(added)
    assert out(added) == {"provider": "court.rongcheng", "types": ["court.*", "judgment.*"]}
    assert {"provider": "court.rongcheng", "types": ["court.*", "judgment.*"]} in out(listed)
    assert len(out(listed)) == 3


@pytest.mark.parametrize("name", ["Court Rongcheng", "court..rongcheng", "法院"])
def test_a_badly_named_provider_is_refused(db: str, name: str) -> None:
    result = scs("provider", "add", name, "--types", "court.*", "--db", db)

    assert result.exit_code == 2
    assert "use lower-case words separated by dots" in said(result)
    assert len(out(scs("provider", "list", "--db", db))) == 2


def test_an_operator_adds_a_lawful_record_type(db: str) -> None:
    result = add_type(db, "delivery.late", "Delivered goods late", kinds="organisation")

    assert result.exit_code == 0, said(result)
    assert out(result)["type"] == "delivery.late"
    assert "organisation" in out(result)["subject_kinds"].split(",")
    [added] = [t for t in out(scs("type", "list", "--db", db)) if t["code"] == "delivery.late"]
    assert added["source"] == "operator"


def _lines_module_ready() -> bool:
    try:
        from socialcredit.lines import crossed_lines  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(
    not _lines_module_ready(), reason="socialcredit.lines.crossed_lines is not written yet"
)
@pytest.mark.parametrize(
    ("code", "title"),
    [
        ("petition.filed", "Filed a petition to the authorities"),
        ("activity.attended", "参加宗教活动"),
    ],
    ids=["a_petition", "religious_activity_in_chinese"],
)
def test_a_special_category_record_type_is_refused_because_it_crosses_a_line(
    db: str, code: str, title: str
) -> None:
    result = add_type(db, code, title)

    assert result.exit_code == 2
    assert "crosses a line we do not cross" in said(result)
    assert code not in {t["code"] for t in out(scs("type", "list", "--db", db))}


def test_a_legacy_code_imports_once_the_operator_allowed_it_with_a_reason(
    db: str, tmp_path: Path
) -> None:
    legacy = record(
        provider="tax.weihai",
        type="tax.arrears",
        subject={"kind": "organisation", "id": LEGACY_ORG},
    )
    path = write_jsonl(tmp_path / "legacy.jsonl", legacy)
    assert scs("import", path, "--db", db).exit_code == 1

    allowed = scs("legacy", "allow", LEGACY_ORG.lower(), "--reason", "2015 pilot", "--db", db)

    assert allowed.exit_code == 0, said(allowed)
    assert out(allowed) == {"allowed": LEGACY_ORG}
    assert scs("import", path, "--db", db).exit_code == 0
    assert out(scs("status", "--db", db))["organisations"] == 1


# -- import ---------------------------------------------------------------------------------------
def test_import_exits_0_when_every_record_landed(db: str, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", record(ref="T-1"), record(ref="T-2"))
    result = scs("import", path, "--db", db)

    assert result.exit_code == 0, said(result)
    assert out(result) == {"accepted": 2, "duplicates": 0, "rejected": 0, "rejects_file": None}


def test_import_exits_1_when_some_records_were_rejected_and_the_rest_landed(
    db: str, tmp_path: Path
) -> None:
    bad = record(ref="T-2", occurred_on="2030-01-01")
    path = write_jsonl(tmp_path / "in.jsonl", record(ref="T-1"), bad, record(ref="T-3"))
    result = scs("import", path, "--db", db)

    assert result.exit_code == 1
    rejects = tmp_path / "in.jsonl.rejects.jsonl"
    assert out(result) == {
        "accepted": 2,
        "duplicates": 0,
        "rejected": 1,
        "rejects_file": str(rejects),
    }
    assert "occurred_on 1" in said(result)
    assert orjson.loads(rejects.read_bytes())["line"] == 2


def test_import_exits_0_on_a_rerun_that_only_finds_duplicates(filed: str, tmp_path: Path) -> None:
    result = scs("import", tmp_path / "in.jsonl", "--db", filed)
    assert result.exit_code == 0
    assert (out(result)["accepted"], out(result)["duplicates"]) == (0, 3)


@pytest.mark.parametrize(
    ("name", "content", "complaint"),
    [
        ("empty.jsonl", b"", "the file is empty"),
        ("records.csv", b"provider,ref\nx,y\n", "missing column(s)"),
        ("records.jsonl", b"provider,ref,subject_kind\nx,y,person\n", "no row of the file"),
    ],
    ids=["an_empty_file", "a_csv_missing_columns", "a_jsonl_file_holding_csv"],
)
def test_import_exits_2_when_the_file_cannot_be_read(
    db: str, tmp_path: Path, name: str, content: bytes, complaint: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = scs("import", path, "--db", db)

    assert result.exit_code == 2
    assert out(result)["accepted"] == 0
    assert complaint in said(result)
    assert out(scs("status", "--db", db))["records"] == 0


def test_import_refuses_a_rejects_path_it_cannot_write_before_storing_anything(
    db: str, tmp_path: Path
) -> None:
    rows = [record(ref=f"T-{n}") for n in range(10)] + [record(ref="T-bad", amount=-1)]
    path = write_jsonl(tmp_path / "in.jsonl", *rows)
    rejects = tmp_path / "no" / "such" / "dir" / "rejects.jsonl"
    result = scs("import", path, "--db", db, "--rejects", rejects, "--batch-size", 1)

    assert result.exit_code == 2
    assert str(rejects) in said(result)
    assert out(scs("status", "--db", db))["records"] == 0


# -- amendments -----------------------------------------------------------------------------------
def test_a_record_is_revoked_once_and_a_second_revocation_is_refused(filed: str) -> None:
    args = ("revoke", "--provider", "police.traffic", "--ref", "T-2", "--db", filed)
    first = scs(*args, "--reason", "fined the wrong car")
    second = scs(*args, "--reason", "again")

    assert first.exit_code == 0, said(first)
    assert out(first) == {"revoked": "T-2", "provider": "police.traffic", "seq": 4}
    assert second.exit_code == 2 and "already amended by revocation" in said(second)
    assert out(scs("status", "--db", filed))["revocations"] == 1


def test_a_record_is_corrected_by_a_new_record_with_its_own_ref(filed: str, tmp_path: Path) -> None:
    fixed = tmp_path / "fixed.json"
    fixed.write_bytes(orjson.dumps(record(ref="T-1-fix", amount=150)))
    result = scs("correct", "--ref", "T-1", fixed, "--reason", "the fine was 150", "--db", filed)

    assert result.exit_code == 0, said(result)
    assert out(result) == {
        "corrected": "T-1",
        "by": "T-1-fix",
        "provider": "police.traffic",
        "seq": 4,
    }
    assert out(scs("status", "--db", filed))["corrections"] == 1
    assert scs("verify", "--db", filed).exit_code == 0


def test_a_correction_that_is_not_a_valid_record_is_refused_by_field(
    filed: str, tmp_path: Path
) -> None:
    fixed = tmp_path / "fixed.json"
    fixed.write_bytes(orjson.dumps(record(ref="T-1-fix", amount=-150)))
    result = scs("correct", "--ref", "T-1", fixed, "--reason", "typo", "--db", filed)

    assert result.exit_code == 2 and "amount: -150 is negative" in said(result)
    assert out(scs("status", "--db", filed))["corrections"] == 0


@pytest.mark.parametrize("ref", ["[/x]", "[b]x"])
def test_an_error_message_shows_user_text_as_it_was_given(filed: str, ref: str) -> None:
    result = scs(
        "revoke", "--provider", "police.traffic", "--ref", ref, "--reason", "r", "--db", filed
    )
    assert result.exit_code == 2
    assert f"has no record with ref '{ref}'" in said(result)


# -- verify and status ----------------------------------------------------------------------------
def test_verify_exits_0_on_an_untouched_registry(filed: str) -> None:
    result = scs("verify", "--db", filed)

    assert result.exit_code == 0, said(result)
    assert out(result)["ok"] is True
    assert out(result)["ledger_entries"] == 3 and out(result)["first_problem"] is None


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        (
            "UPDATE ledger SET amount = 999 WHERE seq = 2",
            {"chain": "ledger", "seq": 2, "problem": "content altered"},
        ),
        (
            "DELETE FROM ledger WHERE seq = 3",
            {"chain": "ledger", "seq": 3, "problem": "missing (the chain head says 3 entries)"},
        ),
        (
            "UPDATE operator_log SET actor = 'someone else' WHERE seq = 2",
            {"chain": "operator_log", "seq": 2, "problem": "entry altered"},
        ),
    ],
    ids=["an_altered_record", "a_deleted_last_record", "an_altered_operator_action"],
)
def test_verify_exits_1_and_names_the_first_tampered_entry(
    filed: str, statement: str, problem: dict[str, Any]
) -> None:
    sql(filed, statement)
    result = scs("verify", "--db", filed)

    assert result.exit_code == 1
    found = out(result)["first_problem"]
    assert (found["chain"], found["seq"]) == (problem["chain"], problem["seq"])
    assert found["problem"].startswith(problem["problem"])
    assert "tampering detected" in said(result)


def test_status_counts_subjects_providers_and_entries(filed: str) -> None:
    result = scs("status", "--db", filed)

    assert result.exit_code == 0
    assert out(result) == {
        "database": filed,
        "persons": 1,
        "organisations": 0,
        "institutions": 0,
        "providers": 2,
        "records": 3,
        "corrections": 0,
        "revocations": 0,
    }


# -- the demo -------------------------------------------------------------------------------------
DEMO_CITY = ("--people", 300, "--organisations", 30, "--institutions", 3, "--no-serve")


def test_the_demo_builds_a_verifiable_registry_once(sqlite_url: str) -> None:
    built = scs("demo", "--db", sqlite_url, *DEMO_CITY)
    again = scs("demo", "--db", sqlite_url, *DEMO_CITY)

    assert built.exit_code == 0, said(built)
    made = out(built)
    assert made["already_built"] is False and made["rejected"] == 0
    counts = made["registry"]
    assert counts["records"] > 300 and counts["persons"] > 0 and counts["providers"] == 15
    assert made["city"]["people"] == 300
    assert scs("verify", "--db", sqlite_url).exit_code == 0
    assert out(again)["already_built"] is True
    assert out(again)["registry"]["records"] == counts["records"]


def test_the_demo_database_never_holds_a_raw_resident_number(sqlite_url: str) -> None:
    assert scs("demo", "--db", sqlite_url, *DEMO_CITY).exit_code == 0
    gc.collect()  # let the command's engine close, so everything is on disk
    persons = demo.generate_city(7, 300, 30, 3).persons
    stored = b"".join(path.read_bytes() for path in db_file(sqlite_url).parent.glob("registry.db*"))

    raw = [p.id for p in persons if p.id.encode() in stored]
    assert raw == [], f"{len(raw)} raw resident numbers found in the database files"
    assert any(mask_resident_id(p.id).encode() in stored for p in persons)
