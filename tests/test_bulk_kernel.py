"""The bulk engine's one-pass kernel: which files take it, what it refuses, and its edges.

That the kernel's results equal ``scoring.evaluate``'s on random histories is proven in
``test_bulk.py`` (every property test there also scores a sorted copy with the kernel). Here:
files sorted by subject take the kernel and give the pipeline's results; a file that declares
an order it does not have, or names a kind of subject that does not exist, is refused with the
row; subjects longer than a batch, batches cut in two for two threads, missing optional
columns, both output formats, and a stale compiled library.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.csv
import pyarrow.json
import pyarrow.parquet as pq
import pytest

from socialcredit import demo
from socialcredit.bulk import RESULT_SCHEMA, SourceError, kernel, score_all, write_results
from socialcredit.identifiers import SubjectKind
from socialcredit.records import Record, SubjectRef
from socialcredit.rulebook import load_rulebook
from socialcredit.scoring import evaluate
from tests.test_bulk import CI_NEEDS_KERNEL, sorted_file, table

pytestmark = pytest.mark.skipif(
    not kernel.available() and not CI_NEEDS_KERNEL,
    reason="the bulk kernel is not compiled here (no C compiler at install)",
)

RONGCHENG = load_rulebook("rongcheng")
AS_OF = date(2025, 12, 31)
ORDER = [("subject_kind", "ascending"), ("subject_id", "ascending")]


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5,000 demo records as the demo writes them: subject by subject, not sorted."""
    path = tmp_path_factory.mktemp("city") / "city.parquet"
    demo.write_parquet(demo.generate_records(11, 5_000, end=AS_OF), path)
    return path


def results(source: object, **options: object) -> list[dict[str, object]]:
    got = pa.Table.from_batches(list(score_all(source, RONGCHENG, AS_OF, **options)), RESULT_SCHEMA)  # type: ignore[arg-type]
    return got.sort_by(ORDER).to_pylist()


def test_a_file_sorted_by_subject_takes_the_kernel_and_gives_the_pipelines_results(
    city: Path, tmp_path: Path
) -> None:
    assert not kernel.sorted_by_subject(city)  # the demo's own file: subject by subject only
    sorted_path = tmp_path / "sorted.parquet"
    assert kernel.sort_records(city, sorted_path) == pq.ParquetFile(city).metadata.num_rows
    assert kernel.sorted_by_subject(sorted_path)
    by_pipeline = results(city)
    assert results(sorted_path, use_kernel=True) == by_pipeline
    assert results(sorted_path) == by_pipeline  # taken without asking
    assert results(sorted_path, use_kernel=False) == by_pipeline


def test_sort_records_reads_json_lines_and_csv(tmp_path: Path) -> None:
    records = list(demo.generate_records(3, 800, end=AS_OF))
    demo.write_jsonl(records, tmp_path / "records.jsonl")
    pyarrow.csv.write_csv(table(records), tmp_path / "records.csv")
    expected = results(table(records))
    for name in ("records.jsonl", "records.csv"):
        target = tmp_path / f"{name}.parquet"
        kernel.sort_records(tmp_path / name, target)
        assert results(target, use_kernel=True) == expected, name


def test_a_file_that_says_it_is_sorted_and_is_not_is_refused_at_the_first_row_out_of_order(
    tmp_path: Path,
) -> None:
    subjects = [SubjectRef(SubjectKind.PERSON, sid) for sid in ("B", "A", "C")]
    records = [
        Record("police", f"t{i}", s, "traffic.warning", date(2025, 1, 1))
        for i, s in enumerate(subjects)
    ]
    path = tmp_path / "lying.parquet"
    declared = pq.SortingColumn.from_ordering(
        table(records).schema, [("subject_kind", "ascending"), ("subject_id", "ascending")]
    )
    pq.write_table(table(records), path, sorting_columns=declared)
    assert kernel.sorted_by_subject(path)  # the metadata is all it looks at...
    with pytest.raises(SourceError, match=r"row 2: the records are not sorted by subject_kind"):
        results(path)  # ...and the rows are checked as they are read


def test_an_unknown_kind_of_subject_is_refused_with_its_row(tmp_path: Path) -> None:
    rows = table(
        [Record("police", "t1", SubjectRef(SubjectKind.PERSON, "A"), "traffic.warning", AS_OF)]
    )
    rows = rows.set_column(2, "subject_kind", pa.array(["martian"]))
    path = sorted_file(rows, tmp_path / "martian.parquet", 1)
    with pytest.raises(SourceError, match=r"row 1: subject_kind 'martian' is not one of"):
        results(path)


def test_asking_for_the_kernel_where_it_cannot_run_says_why(city: Path, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="declared sorted by subject_kind and subject_id"):
        results(city, use_kernel=True)
    sorted_path = tmp_path / "sorted.parquet"
    kernel.sort_records(city, sorted_path)
    with pytest.raises(SourceError, match="results only"):
        list(score_all(sorted_path, RONGCHENG, AS_OF, contributions=True, use_kernel=True))
    # contributions from a sorted file come from the pipeline, unasked
    assert list(score_all(sorted_path, RONGCHENG, AS_OF, contributions=True))


def test_a_subject_longer_than_several_batches_is_scored_whole(tmp_path: Path) -> None:
    rng = random.Random(5)
    long = SubjectRef(SubjectKind.PERSON, "LONG")
    codes = ["traffic.fine_le_500", "traffic.fine_500_2000", "blood.donation", "volunteer.hours"]
    records = [
        Record(
            "police",
            f"r{i:04d}",
            long,
            rng.choice(codes),
            date(2016, 1, 1) + timedelta(days=rng.randint(0, 3650)),
            quantity=float(rng.randint(10, 400)),
        )
        for i in range(700)
    ]
    records += [
        Record("police", "x", SubjectRef(SubjectKind.PERSON, sid), "traffic.warning", AS_OF)
        for sid in ("A", "Z")
    ]
    path = sorted_file(table(records), tmp_path / "long.parquet", 2)
    counts = kernel.KernelCounts()
    batches = kernel.score_sorted(path, RONGCHENG, AS_OF, RESULT_SCHEMA, counts, batch_rows=64)
    got = {row["subject_id"]: row for row in pa.Table.from_batches(list(batches)).to_pylist()}
    assert counts.subjects == 3
    want = evaluate(records[:700], RONGCHENG, AS_OF, SubjectKind.PERSON)
    assert (got["LONG"]["score"], got["LONG"]["grade"]) == (want.score, want.grade)
    assert got["LONG"]["reasons"] == [r.code for r in want.reasons]


def test_batches_cut_in_two_for_two_threads_give_the_same_results(
    city: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sorted_path = tmp_path / "sorted.parquet"
    kernel.sort_records(city, sorted_path)
    whole = results(sorted_path)
    monkeypatch.setattr(kernel, "SPLIT_ROWS", 10)
    assert results(sorted_path) == whole


def test_missing_optional_columns_read_as_none(tmp_path: Path) -> None:
    subject = SubjectRef(SubjectKind.PERSON, "A")
    records = [
        Record("police", "t1", subject, "traffic.fine_le_500", date(2025, 3, 1)),
        Record("police", "t2", subject, "donation.money", date(2025, 4, 1)),  # no amount
    ]
    narrow = table(records).drop_columns(["act", "amount", "quantity", "relates_to"])
    path = sorted_file(narrow, tmp_path / "narrow.parquet", 3)
    [row] = results(path, use_kernel=True)
    want = evaluate(records, RONGCHENG, AS_OF, SubjectKind.PERSON)
    assert (row["score"], row["reasons"]) == (want.score, [r.code for r in want.reasons])


def test_kernel_results_are_written_to_parquet_and_json_lines(city: Path, tmp_path: Path) -> None:
    sorted_path = tmp_path / "sorted.parquet"
    kernel.sort_records(city, sorted_path)
    expected = results(city)
    summary = write_results(sorted_path, RONGCHENG, AS_OF, tmp_path / "results.parquet")
    assert summary.subjects == len(expected)
    assert pq.read_table(tmp_path / "results.parquet").sort_by(ORDER).to_pylist() == expected
    write_results(sorted_path, RONGCHENG, AS_OF, tmp_path / "results.jsonl")
    lines = pyarrow.json.read_json(tmp_path / "results.jsonl")
    assert lines.num_rows == len(expected)
    with pytest.raises(SourceError, match=r"write \.parquet or \.jsonl"):
        write_results(sorted_path, RONGCHENG, AS_OF, tmp_path / "results.xlsx")


def test_a_library_built_from_another_source_is_not_used(tmp_path: Path) -> None:
    other = tmp_path / "_kernel.c"
    other.write_text(kernel.SOURCE.read_text() + "\n/* edited */\n")
    assert kernel.load(kernel.library_path(), source=other) is None  # stale: the SQL runs
    assert kernel.load(tmp_path / "missing.so") is None
    assert kernel.load(kernel.library_path()) is not None


def test_scs_sort_records_writes_the_layout_and_refuses_what_it_cannot_write(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from socialcredit.cli import app

    records = list(demo.generate_records(4, 300, end=AS_OF))
    demo.write_jsonl(records, tmp_path / "records.jsonl")
    runner = CliRunner()
    done = runner.invoke(
        app, ["sort-records", str(tmp_path / "records.jsonl"), str(tmp_path / "s.parquet")]
    )
    assert done.exit_code == 0, done.output
    assert '"rows": 300' in done.output
    assert kernel.sorted_by_subject(tmp_path / "s.parquet")
    assert results(tmp_path / "s.parquet", use_kernel=True) == results(table(records))
    refused = runner.invoke(
        app, ["sort-records", str(tmp_path / "records.jsonl"), str(tmp_path / "s.csv")]
    )
    assert refused.exit_code == 2 and "written as .parquet" in refused.output
    missing = runner.invoke(
        app, ["sort-records", str(tmp_path / "none.jsonl"), str(tmp_path / "t.parquet")]
    )
    assert missing.exit_code == 2 and "no such file" in missing.output


@pytest.mark.parametrize("use_kernel", [True, False])
def test_a_run_killed_while_writing_leaves_the_earlier_results_and_no_half_file(
    city: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_kernel: bool
) -> None:
    from socialcredit.bulk import BulkRun

    sorted_path = tmp_path / "sorted.parquet"
    kernel.sort_records(city, sorted_path)
    target = tmp_path / "results.parquet"
    target.write_bytes(b"the results of an earlier run")

    def killed_in_kernel(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the Parquet writer has opened its file by then

    def killed_in_sql(run: BulkRun, sql: str, path: Path) -> None:
        Path(path).write_bytes(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(kernel, "write_sorted", killed_in_kernel)
    monkeypatch.setattr(BulkRun, "write", killed_in_sql)
    with pytest.raises(KeyboardInterrupt):
        write_results(sorted_path, RONGCHENG, AS_OF, target, use_kernel=use_kernel)
    assert target.read_bytes() == b"the results of an earlier run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.parquet", "sorted.parquet"]
