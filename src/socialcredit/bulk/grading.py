"""Steps 12 and 13 in SQL: each subject's score, grade, lists, measures and reasons.

They read the settled records (``fx``, from ``pipeline``) and aggregate per subject: points,
the caps and ranks of the direct grades that count, and for lists by type whether a record of
the type holds. Reasons are ranked as ``scoring`` ranks them (direct grades worst first, then
point totals per type or repair by size, then frozen additions; ties by code) and cut at
``scoring.MAX_REASONS``. Per subject only numbers are computed; the strings (the subject's
kind and id, grade, list and measure codes) are joined on once, in the final query.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:  # DuckDB is imported where a connection is made: the kernel needs none
    import duckdb
from socialcredit.bulk.pipeline import HOLDING_CODES, STATUSES, S
from socialcredit.bulk.rules import RulebookSQL, lit
from socialcredit.identifiers import SubjectKind
from socialcredit.scoring import MAX_REASONS, Status

_CODES = pa.list_(pa.string())
OUTCOMES_SCHEMA = pa.schema(
    [("kind", pa.string()), ("mask", pa.int64()), ("lists", _CODES), ("measures", _CODES)]
)


def build(con: duckdb.DuckDBPyConnection, rules: RulebookSQL, as_of: date) -> None:
    """Create ``graded`` (score, grade rank, lists mask), ``reasons`` and ``outcomes``."""
    rb = rules.rb
    day = f"DATE {lit(as_of.isoformat())}"
    hold_aggs = "".join(
        f", bool_or(status IN ({HOLDING_CODES}) "
        f"AND vfrom <= {day} AND {day} <= vuntil AND {cond}) AS {name}"
        for name, cond in rules.list_holds()
    )
    points = f"{rb.score.base} + coalesce(pts, 0)"
    clamped = rules.clamp(points)
    if rb.score.higher_is_better:
        score = f"least({clamped}, coalesce(cap_min, {clamped}))"
    else:
        score = f"greatest({clamped}, coalesce(cap_max, {clamped}))"
    con.execute(f"""
        CREATE TABLE graded AS
        WITH agg AS (
          SELECT subj,
                 sum(points) FILTER (WHERE counts) AS pts,
                 min(dcap) FILTER (WHERE counts AND drank IS NOT NULL) AS cap_min,
                 max(dcap) FILTER (WHERE counts AND drank IS NOT NULL) AS cap_max,
                 max(drank) FILTER (WHERE counts) AS worst{hold_aggs}
          FROM fx GROUP BY subj
        ), scored AS (
          SELECT u.subj, agg.* EXCLUDE (subj), CAST({score} AS BIGINT) AS score
          FROM subjects u LEFT JOIN agg ON agg.subj = u.subj
          WHERE u.subj NOT IN (SELECT subj FROM routed)
        ), ranked AS (
          SELECT *, greatest({rules.band_rank("score")}, coalesce(worst, -1)) AS grank
          FROM scored
        )
        SELECT subj, score, grank, CAST({rules.list_mask("grank", "score")} AS BIGINT) AS mask
        FROM ranked
    """)
    # The first MAX_REASONS factors by (k, v, code), in that order: a top-n aggregate, not
    # an ordered list of every factor cut afterwards (DuckDB sorts those group by group).
    con.execute(f"""
        CREATE TABLE reasons AS
        WITH factors AS (
          SELECT f.subj, 'direct_grade:' || t.type AS code, 0 AS k, -f.drank AS v
          FROM (SELECT subj, ti, max(drank) AS drank FROM fx
                WHERE counts AND drank IS NOT NULL GROUP BY subj, ti) f
          JOIN rb_types t ON t.ti = f.ti
          UNION ALL
          SELECT subj, 'repair:' || rcode, 1, -abs(sum(points))
          FROM fx WHERE counts AND rcode IS NOT NULL GROUP BY subj, rcode
          UNION ALL
          SELECT f.subj, 'points:' || t.type, 1, -abs(f.total)
          FROM (SELECT subj, ti, sum(points) AS total FROM fx
                WHERE counts AND neg AND points <> 0 AND drank IS NULL AND rcode IS NULL
                GROUP BY subj, ti) f
          JOIN rb_types t ON t.ti = f.ti
          UNION ALL
          SELECT DISTINCT subj, 'frozen_additions', 2, 0
          FROM fx WHERE status = {S[Status.FROZEN]} AND ti IS NOT NULL
        )
        SELECT subj, min_by(code, (k, v, code), {MAX_REASONS}) AS codes
        FROM factors GROUP BY subj
    """)
    # Every kind for each distinct mask: a few rows more than the pairs that occur, but no
    # join of every subject's kind to find those pairs.
    masks = con.execute("SELECT DISTINCT mask FROM graded").fetchall()
    rows = []
    for (mask,) in masks:
        for kind in SubjectKind:
            lists, measures = rules.memberships(kind.value, mask)
            rows.append({"kind": kind.value, "mask": mask, "lists": lists, "measures": measures})
    con.register("outcomes_arrow", pa.Table.from_pylist(rows, schema=OUTCOMES_SCHEMA))
    con.execute("CREATE TABLE outcomes AS SELECT * FROM outcomes_arrow")


def results_sql(rules: RulebookSQL) -> str:
    """The vectorised path's subjects as rows of ``bulk.RESULT_SCHEMA``."""
    return f"""
        SELECT u.kind AS subject_kind, u.sid AS subject_id, g.score,
               {rules.grade_names()}[g.grank + 1] AS grade, o.lists, o.measures,
               coalesce(r.codes, CAST([] AS VARCHAR[])) AS reasons
        FROM graded g
        JOIN subjects u ON u.subj = g.subj
        JOIN outcomes o ON o.kind = u.kind AND o.mask = g.mask
        LEFT JOIN reasons r ON r.subj = g.subj
    """


_STATUS_NAMES = "[" + ", ".join(lit(name) for name in STATUSES) + "]"


def contributions_sql() -> str:
    """Every considered record of the vectorised path's subjects, in engine order."""
    return f"""
        SELECT u.kind AS subject_kind, u.sid AS subject_id, f.ref, p.provider, n.type,
               f.day AS occurred_on, CAST(f.base AS BIGINT) AS base_points,
               CAST(f.points AS BIGINT) AS points,
               CAST(CASE WHEN f.counts THEN f.points ELSE 0 END AS BIGINT) AS applied_points,
               {_STATUS_NAMES}[f.status + 1] AS status,
               f.vfrom AS valid_from, f.vuntil AS valid_until
        FROM fx f
        JOIN subjects u ON u.subj = f.subj
        JOIN (SELECT DISTINCT pid, provider FROM dict) p ON p.pid = f.pid
        JOIN (SELECT DISTINCT tid, type FROM dict) n ON n.tid = f.tid
        WHERE f.live AND f.subj NOT IN (SELECT subj FROM routed)
    """
