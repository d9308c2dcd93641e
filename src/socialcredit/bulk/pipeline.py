"""The vectorised path: ``scoring``'s steps 1-11 as set-at-a-time SQL over every subject.

Each step of the module doc of ``socialcredit.scoring`` becomes one statement over all
subjects at once, on integer keys (a subject is a 64-bit hash of its kind and id). Steps that
concern few records (one act one item, corrections and repairs, freezes, annual caps, "highest
tier") run on just those records and leave one row per record they change in ``adj``; the
final per-record table ``fi`` is the records with those exceptions applied.

One step is sequential in the engine in a way a single window cannot reproduce: whether a
deduction is a repeat depends on how long the earlier ones of its class are valid, which
depends on whether *they* were repeats. The window computes, for every repeatable record, the
latest day an earlier record of its class could be valid under either outcome (the shorter and
the longer of its two possible periods). If even the shorter reach covers the record's day it
is certainly a repeat; if even the longer does not, it certainly is not. The classes where some
record falls between the two (or where two records share a day, so the order needs refs and
providers) are settled by ``_settle_chains``, which iterates to the one exact solution. Only
subjects with a type the translation leaves to the engine (a score condition, ``only_if``) or a
chain still open after ``MAX_ROUNDS`` rounds are left to the exact path (``routed``).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # DuckDB is imported where a connection is made: the kernel needs none
    import duckdb
from socialcredit.bulk.rules import RulebookSQL, lit
from socialcredit.scoring import Status

#: Statuses as small numbers while the records are settled (a string per record costs as
#: much to write as the rest of the row); ``FUTURE`` marks records after the moment.
STATUSES = (*(status.value for status in Status), "future")
S = {status: code for code, status in enumerate(Status)}
FUTURE = len(Status)
#: The statuses with which a record valid at the moment holds a list of its type.
HOLDING = (Status.COUNTED, Status.DOUBLED, Status.CAPPED, Status.SUPERSEDED)
#: ``HOLDING`` as the codes of an SQL ``IN`` list.
HOLDING_CODES = ", ".join(str(S[status]) for status in HOLDING)
#: The columns of ``fx`` that grading reads (all of them are kept for contributions).
GRADING_COLUMNS = (
    "subj", "ti", "neg", "drank", "dcap", "rcode", "points", "vfrom", "vuntil", "status",
    "counts",
)  # fmt: skip

#: A repeatable record's two possible ends: undoubled (``us``) and doubled (``ud``).
REACHES = "last_day_after(day, m0) AS us, last_day_after(day, m2) AS ud"
#: DuckDB macros: ``Period.last_day`` and ``Period.end`` on dates and month counts. DuckDB
#: clamps 31 Jan + 1 month to 28/29 Feb, where the engine rolls to 1 March; the CASE makes
#: the clamped day roll over the same way.
MACROS = (
    "CREATE OR REPLACE MACRO last_day_after(d, m) AS "
    "(CASE WHEN day(CAST(d + to_months(m) AS DATE)) < day(d) "
    "THEN CAST(d + to_months(m) AS DATE) ELSE CAST(d + to_months(m) AS DATE) - 1 END)",
    "CREATE OR REPLACE MACRO end_after(d, m) AS "
    "(CASE WHEN day(CAST(d + to_months(m) AS DATE)) < day(d) "
    "THEN CAST(d + to_months(m) AS DATE) + 1 ELSE CAST(d + to_months(m) AS DATE) END)",
)


def build(
    con: duckdb.DuckDBPyConnection, rules: RulebookSQL, as_of: date, *, every_record: bool
) -> None:
    """Create ``fx`` (records settled at ``as_of``) and ``routed`` (exact-path subjects).

    ``fx`` holds every record when ``every_record`` (for contributions), else only the
    columns grading reads of the records that count, may hold a list or are frozen at
    ``as_of``: the others have played their part in the windows (repeats, caps, acts,
    corrections) and cannot change a score, list or reason.
    """
    rb = rules.rb
    day = f"DATE {lit(as_of.isoformat())}"
    con.register("rb_types_arrow", rules.types)
    con.register("rb_repairs_arrow", rules.repairs)
    con.execute("CREATE TABLE rb_types AS SELECT * FROM rb_types_arrow")
    con.execute("CREATE TABLE rb_repairs AS SELECT * FROM rb_repairs_arrow")
    for macro in MACROS:
        con.execute(macro)
    period = rules.period
    f = rules.factor

    # Subjects as 64-bit hashes, and providers, types and kinds through one small dictionary:
    # every partition, join and group below is on integers, and the strings come back once,
    # at the end. Should two subjects share a hash they are numbered instead (a join more).
    # Providers and types are numbered in string order: ordering by number is by name.
    subj = _subjects(con)
    base = rules.base_points("s.type", "s.amount", "s.quantity")
    # Step 7's periods depend on a record only through tiered points: for the other types
    # they are worked out once per row of the dictionary (m0c, m2c), not once per record.
    m0 = period("base0", "neg", "fixed_m", "drank", "direct_m")
    m2 = period(f"base0 * {f}", "neg", "fixed_m", "drank", "direct_m")
    con.execute(f"""
        CREATE TABLE dict AS
        SELECT * EXCLUDE (base0), {m0} AS m0c, CASE WHEN doubling THEN {m2} END AS m2c,
               CASE WHEN points IS NOT NULL THEN points WHEN tiers_by IS NULL THEN 0 END
                 AS base0c,
               tiers_by IS NOT NULL AS tiered
        FROM (
        SELECT CAST(row_number() OVER () AS INTEGER) AS di, d.provider, d.type, d.kind,
               CAST(dense_rank() OVER (ORDER BY d.provider) AS INTEGER) AS pid,
               CAST(dense_rank() OVER (ORDER BY d.type) AS INTEGER) AS tid,
               t.ti, t.ci, coalesce(t.neg, FALSE) AS neg, t.drank,
               coalesce(t.corrects, FALSE) AS corrects, t.points, t.tiers_by,
               coalesce(t.doubling, FALSE) AS doubling, coalesce(t.highest, FALSE) AS highest,
               coalesce(t.exact, FALSE) AS exact, t.cap, t.dcap, t.fixed_m, t.direct_m,
               coalesce(t.points, 0) AS base0
        FROM (SELECT DISTINCT provider, type, subject_kind AS kind FROM src) d
        LEFT JOIN rb_types t ON t.type = d.type AND t.kind = d.kind
        )
    """)

    # Steps 1 and 3: the moment and classification. Records after as_of stay (their subject
    # is still in the input) but are inert: not live, not scored.
    # Step 7's periods are fixed here too: the type's own validity, or its direct grade's, or
    # by size for the base points (m0) and, for repeatable types, for doubled points (m2).
    # ``recs`` is narrow: the subject, day, strings and the dictionary row ``di``; what
    # depends on the type alone (its flags, category, caps, periods) stays in ``dict`` and
    # ``rx`` joins it back by ``di`` (a perfect hash join on a small integer), cheaper than
    # writing a dozen constant columns for every record. Only tiered records have their own
    # base points and periods (NULL for the others, whose ``dict`` row holds them); the tiers
    # are a CASE in a CASE branch, so that only tiered records evaluate them.
    numbered = (
        ""
        if subj.startswith("hash")
        else ("JOIN subjects u ON u.kind = s.subject_kind AND u.sid = s.subject_id")
    )
    con.execute(f"""
        CREATE TABLE recs AS
        SELECT subj, day, di, ref, act, rel,
               CASE WHEN tiers_by IS NOT NULL THEN base0 END AS base0,
               CASE WHEN tiers_by IS NOT NULL THEN {m0} END AS m0,
               CASE WHEN tiers_by IS NOT NULL AND doubling THEN {m2} END AS m2
        FROM (
          SELECT {subj} AS subj, s.occurred_on AS day, d.di, s.ref, s.act,
                 s.relates_to AS rel, d.neg, d.drank, d.doubling, d.fixed_m, d.direct_m,
                 d.tiers_by,
                 CASE WHEN d.points IS NOT NULL THEN d.points WHEN d.tiers_by IS NULL THEN 0
                      ELSE {base} END AS base0
          FROM src s
          JOIN dict d
            ON d.provider = s.provider AND d.type = s.type AND d.kind = s.subject_kind
          {numbered}
        )
    """)
    con.execute(f"""
        CREATE VIEW rx AS
        SELECT *, ti IS NULL OR base0 IS NULL AS ns, coalesce(base0, 0) AS base FROM (
          SELECT r.rowid AS rid, r.subj, r.day, r.day <= {day} AS live, d.pid, d.tid, r.ref,
                 r.act, r.rel, CASE WHEN r.day <= {day} THEN d.ti END AS ti, d.ci, d.neg,
                 d.drank, d.corrects, d.doubling, d.highest, d.exact, d.cap, d.dcap,
                 CASE WHEN d.tiered THEN r.base0 ELSE d.base0c END AS base0,
                 CASE WHEN d.tiered THEN r.m0 ELSE d.m0c END AS m0,
                 CASE WHEN d.tiered THEN r.m2 ELSE d.m2c END AS m2
          FROM recs r JOIN dict d ON d.di = r.di
        )
    """)

    # Step 5: one act, one item.
    if rb.counting.one_act_one_item:
        con.execute("""
            CREATE TABLE sup AS SELECT rid FROM (
              SELECT rid, row_number() OVER (
                PARTITION BY subj, act, neg
                ORDER BY drank IS NOT NULL DESC, coalesce(drank, -1) DESC, abs(base) DESC,
                         day, ref, pid) AS rn
              FROM rx WHERE live AND NOT ns AND NOT corrects AND act IS NOT NULL
            ) WHERE rn > 1
        """)
    else:
        con.execute("CREATE TABLE sup (rid BIGINT)")

    # Step 7 for repeatable records: both possible validities; the certain outcomes first.
    # No ref or provider: only the chains need the engine's full order, and fetch them.
    con.execute("""
        CREATE VIEW repeatables AS
        SELECT x.rid, x.subj, x.ci, x.day, x.ref, x.pid, x.m0, x.m2
        FROM rx x
        WHERE x.live AND NOT x.ns AND x.doubling AND x.base <> 0
          AND x.rid NOT IN (SELECT rid FROM sup)
    """)
    older, unreached = (
        ("", "") if every_record or rules.capped_repeats else _may_reach(rules, as_of)
    )
    con.execute(f"""
        CREATE TABLE repeatable AS SELECT * FROM (
          SELECT rid, subj, ci, day, {REACHES} FROM repeatables {older}
        ) {unreached}
    """)
    # The window orders by day alone; records sharing a day with another of their class
    # (``shared``: a neighbour in that order has the same day) need the full engine order, so
    # their class goes to the chains as well. For every other record the rows before it are
    # exactly the records of earlier days, so one sort serves all three windows.
    con.execute("""
        CREATE TABLE rep AS
        SELECT rid, subj, ci, ud, coalesce(lo >= day, FALSE) AND NOT shared AS certain FROM (
          SELECT rid, subj, ci, day, ud,
                 max(least(us, ud)) OVER before AS lo, max(greatest(us, ud)) OVER before AS hi,
                 coalesce(lag(day) OVER next = day OR lead(day) OVER next = day, FALSE)
                   AS shared
          FROM repeatable
          WINDOW before AS (PARTITION BY subj, ci ORDER BY day
                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                 next AS (PARTITION BY subj, ci ORDER BY day)
        ) WHERE hi >= day OR shared
    """)
    unsettled = _settle_chains(con)
    con.execute("""
        CREATE TABLE dbl AS
        SELECT rid, ud FROM rep
        WHERE certain AND (subj, ci) NOT IN (SELECT (subj, ci) FROM chain)
        UNION ALL SELECT rid, ud FROM chain WHERE d
    """)

    # Steps 4 and 8: relate, correct, repair. ``corr``: the corrects records; ``tgt``: what
    # happens to the records they correct.
    con.execute("""
        CREATE TABLE corr AS
        WITH c AS (
          SELECT x.rid, x.subj, x.pid, x.ref, x.day, x.rel, t.type, t.kind
          FROM rx x JOIN rb_types t ON t.ti = x.ti
          WHERE x.live AND x.corrects AND NOT x.ns
        ), cand AS (
          SELECT c.rid, t.rid AS trid, t.day AS tday, t.tid AS ttid, t.ns AS tns, t.m0 AS tm0,
                 row_number() OVER (PARTITION BY c.rid
                   ORDER BY t.pid = c.pid DESC, t.day, t.ref, t.pid) AS rn
          FROM c JOIN rx t
            ON t.subj = c.subj AND t.ref = c.rel AND t.live AND t.rid <> c.rid
        ), e AS (
          SELECT c.*, cand.trid, cand.tday, n.type AS ttype, cand.tns, cand.tm0,
                 cand.trid IS NOT NULL AND cand.tday <= c.day AS ok
          FROM c LEFT JOIN cand ON cand.rid = c.rid AND cand.rn = 1
          LEFT JOIN (SELECT DISTINCT tid, type FROM dict) n ON n.tid = cand.ttid
        ), first AS (
          SELECT rid, row_number() OVER (PARTITION BY trid ORDER BY day, ref, pid) = 1
                 AS wins
          FROM e WHERE ok
        ), rule AS (
          SELECT e.rid, arg_min(r.code, r.ord) AS code, arg_min(r.points, r.ord) AS points,
                 arg_min(r.months, r.ord) AS months
          FROM e JOIN rb_repairs r ON r.ends = e.ttype AND r.by = e.type AND r.kind = e.kind
          GROUP BY e.rid
        )
        SELECT e.rid, e.trid, e.day, coalesce(first.wins, FALSE) AS wins,
               coalesce(first.wins, FALSE) AND rule.code IS NOT NULL AND NOT e.tns
                 AND e.day <= last_day_after(e.tday, e.tm0) AS ends,
               e.trid IN (SELECT rid FROM sup) AS tsup,
               rule.code, rule.points, rule.months
        FROM e
        LEFT JOIN first ON first.rid = e.rid
        LEFT JOIN rule ON rule.rid = e.rid
    """)
    con.execute("""
        CREATE TABLE tgt AS
        SELECT trid AS rid, day AS corrected_on, CASE WHEN ends THEN day - 1 END AS new_until,
               ends AND NOT tsup AS repaired
        FROM corr WHERE wins
    """)

    # Step 9: freezes. Spans of counted direct grades, merged into islands; positive records
    # that occurred inside one count from the island's end.
    con.execute("""
        CREATE TABLE frz AS
        WITH spans AS (
          SELECT x.subj, x.day AS s,
                 least(coalesce(g.new_until, last_day_after(x.day, x.m0)) + 1,
                       coalesce(g.corrected_on, DATE '9999-12-31')) AS e
          FROM rx x LEFT JOIN tgt g ON g.rid = x.rid
          WHERE x.live AND NOT x.ns AND x.drank IS NOT NULL
            AND x.rid NOT IN (SELECT rid FROM sup)
        ), marked AS (
          SELECT *, max(e) OVER (PARTITION BY subj ORDER BY s, e
                                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
          FROM spans WHERE s < e
        ), grouped AS (
          SELECT *, sum(CASE WHEN reach IS NULL OR s > reach THEN 1 ELSE 0 END)
                    OVER (PARTITION BY subj ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS island
          FROM marked
        ), islands AS (
          SELECT subj, min(s) AS s, max(e) AS e FROM grouped GROUP BY subj, island
        )
        SELECT x.rid, i.e AS vfrom
        FROM rx x JOIN islands i ON i.subj = x.subj AND x.day >= i.s AND x.day < i.e
        WHERE x.live AND NOT x.ns AND NOT x.corrects AND NOT x.neg
          AND x.rid NOT IN (SELECT rid FROM sup)
    """)

    # Step 10: annual caps, filled in order: what is left is the cap less the sizes before.
    # Only a year whose records add up to more than the cap (``over``) can cap one, so the
    # ordered window runs on those alone; repeats are looked up only if a capped type has them.
    doubled = (
        "CASE WHEN d.rid IS NOT NULL THEN x.base * {f} ELSE x.base END"
        if rules.capped_repeats
        else "x.base"
    ).format(f=f)
    repeats = "LEFT JOIN dbl d ON d.rid = x.rid" if rules.capped_repeats else ""
    con.execute(f"""
        CREATE TABLE capped AS
        WITH c AS (
          SELECT x.rid, x.subj, x.ci, x.day, x.ref, x.pid, x.cap, {doubled} AS p
          FROM rx x {repeats}
          WHERE x.live AND NOT x.ns AND NOT x.corrects AND x.cap IS NOT NULL
            AND x.rid NOT IN (SELECT rid FROM sup)
        ), over AS (
          SELECT subj, ci, year(day) AS y FROM c GROUP BY ALL HAVING sum(abs(p)) > any_value(cap)
        ), w AS (
          SELECT *, coalesce(sum(abs(p)) OVER (
                   PARTITION BY subj, ci, year(day) ORDER BY day, ref, pid
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
          FROM c SEMI JOIN over o ON o.subj = c.subj AND o.ci = c.ci AND o.y = year(c.day)
          WHERE p <> 0
        )
        SELECT rid, CAST(sign(p) * least(abs(p), greatest(0, cap - before)) AS BIGINT) AS points
        FROM w WHERE least(abs(p), greatest(0, cap - before)) < abs(p)
    """)

    # The exceptions of steps 5-10 in one row per record they touch, but for the repeats:
    # they are most of the exceptions (2M of 10M records) and have one column, so ``fi``
    # joins ``dbl`` itself rather than fold it into this aggregate.
    con.execute("""
        CREATE TABLE adj AS
        SELECT rid, bool_or(sup) AS sup,
               bool_or(wins) AS wins, bool_or(ends) AS ends, bool_or(tsup) AS tsup,
               max(code) AS code, max(rpoints) AS rpoints, max(months) AS months,
               max(new_until) AS new_until, bool_or(repaired) AS repaired,
               max(frozen_until) AS frozen_until, max(cap_points) AS cap_points
        FROM (
          SELECT rid, TRUE AS sup FROM sup
          UNION ALL BY NAME SELECT rid, wins, ends, tsup, code, points AS rpoints, months
            FROM corr
          UNION ALL BY NAME SELECT rid, new_until, repaired FROM tgt
          UNION ALL BY NAME SELECT rid, vfrom AS frozen_until FROM frz
          UNION ALL BY NAME SELECT rid, points AS cap_points FROM capped
        ) GROUP BY rid
    """)

    # Everything per record before step 11. For results alone, only the records that may
    # still be valid at as_of: none is valid beyond the longer of its two possible periods
    # (a repair only shortens it), but for a correction, whose period is its repair's. A
    # period of m months ends fewer than 31 * m days after its start, a cheaper test than
    # the calendar (the exact one follows in ``fx``).
    repair = "coalesce(a.wins AND a.ends AND NOT a.tsup, FALSE)"
    may_hold = (
        ""
        if every_record
        else f"""WHERE x.live AND x.day >= {_horizon(rules, as_of)} AND (x.corrects
                 OR x.day + 31 * greatest(x.m0, coalesce(x.m2, x.m0)) >= {day})"""
    )
    # Read twice (for "highest" and by fx): a table when it holds only the recent records.
    relation = "VIEW" if every_record else "TABLE"
    con.execute(f"""
        CREATE {relation} fi AS
        SELECT x.rid, x.subj, x.pid, x.tid, x.ref, x.day, x.live, x.ti, x.neg, x.drank, x.dcap,
               x.highest, x.base,
               CASE WHEN {repair} THEN a.code END AS rcode,
               d.ud IS NOT NULL AS doubled, a.cap_points IS NOT NULL AS capped,
               CASE WHEN x.ns THEN 0
                    WHEN x.corrects THEN (CASE WHEN {repair} THEN a.rpoints ELSE 0 END)
                    WHEN a.cap_points IS NOT NULL THEN a.cap_points
                    WHEN d.ud IS NOT NULL THEN x.base * {f} ELSE x.base END AS points,
               CASE WHEN x.ns THEN NULL
                    WHEN x.corrects THEN (CASE WHEN {repair} THEN x.day END)
                    ELSE coalesce(a.frozen_until, x.day) END AS vfrom,
               CASE WHEN x.ns THEN NULL
                    WHEN x.corrects THEN (CASE WHEN {repair}
                      THEN last_day_after(x.day, a.months) END)
                    WHEN a.new_until IS NOT NULL THEN a.new_until
                    WHEN d.ud IS NOT NULL THEN d.ud
                    ELSE last_day_after(x.day, x.m0) END AS vuntil,
               CASE WHEN NOT x.live THEN {FUTURE}
                    WHEN x.ns OR (x.corrects AND NOT coalesce(a.wins, FALSE))
                      THEN {S[Status.NOT_SCORED]}
                    WHEN coalesce(a.sup, FALSE) THEN {S[Status.SUPERSEDED]}
                    WHEN coalesce(a.repaired, FALSE) THEN {S[Status.REPAIRED]} END AS st0
        FROM rx x
        LEFT JOIN adj a ON a.rid = x.rid
        LEFT JOIN dbl d ON d.rid = x.rid
        {may_hold}
    """)

    # Step 11: the moment's status; "highest" keeps the largest (between equals the latest).
    con.execute(f"""
        CREATE TABLE lose AS SELECT rid FROM (
          SELECT fi.rid, row_number() OVER (PARTITION BY fi.subj, fi.ti
            ORDER BY abs(fi.points) DESC, fi.day DESC, fi.ref DESC, fi.pid DESC) AS rn
          FROM fi
          WHERE fi.highest AND fi.live AND fi.st0 IS NULL
            AND fi.vfrom <= {day} AND {day} <= fi.vuntil
        ) WHERE rn > 1
    """)
    history = rules.history_months
    gone = (
        str(S[Status.EXPIRED])
        if history is None
        else f"CASE WHEN {day} >= end_after(vuntil + 1, {history}) THEN {S[Status.ERASED]} "
        f"ELSE {S[Status.EXPIRED]} END"
    )
    counting = f"({S[Status.COUNTED]}, {S[Status.DOUBLED]}, {S[Status.CAPPED]})"
    # For results alone, fx keeps only what grading reads: the records that hold at as_of
    # (they count, or may hold a list) and the frozen ones (a reason). Most recent records
    # have expired by then; writing them to fx would cost more than grading them.
    settled = f"""
        SELECT * EXCLUDE (highest, doubled, capped, st0, label),
               status IN {counting} AND vfrom IS NOT NULL
                 AND vfrom <= {day} AND {day} <= vuntil AS counts
        FROM (
          SELECT fi.*,
            CAST(CASE WHEN st0 IS NOT NULL THEN st0
                 WHEN vfrom IS NULL OR vuntil IS NULL THEN label
                 WHEN {day} > vuntil THEN {gone}
                 WHEN {day} < vfrom THEN {S[Status.FROZEN]}
                 WHEN rid IN (SELECT rid FROM lose) THEN {S[Status.SUPERSEDED]}
                 ELSE label END AS TINYINT) AS status
          FROM (SELECT *, CASE WHEN capped THEN {S[Status.CAPPED]}
                               WHEN doubled THEN {S[Status.DOUBLED]}
                               ELSE {S[Status.COUNTED]} END AS label FROM fi) fi
        )
    """
    if not every_record:
        settled = f"""
            SELECT {", ".join(GRADING_COLUMNS)} FROM ({settled})
            WHERE status = {S[Status.FROZEN]}
               OR (status IN ({HOLDING_CODES}) AND vfrom <= {day} AND {day} <= vuntil)
        """
    con.execute(f"CREATE TABLE fx AS {settled}")

    con.execute(f"""
        CREATE TABLE routed AS
        SELECT DISTINCT subj FROM rx WHERE live AND exact
        UNION SELECT subj FROM {unsettled}
    """)


def _may_reach(rules: RulebookSQL, as_of: date) -> tuple[str, str]:
    """For results alone: the repeatable records whose repeats can still change a score.

    A repeat matters to a score only on a record that may still be valid at ``as_of``; such a
    record occurred at most ``repeat_months`` (as 31 days a month, a superset) before it,
    on a day ``first``. The window decides it from the reaches (``us``, ``ud``) of the
    earlier records of its class, not from their outcomes, and a record whose reaches both
    end before ``first`` reaches none of them: it is left out (half of the 10M demo records
    are repeatable, most of them years old). A class the window cannot decide is still
    settled whole, old records and all (``_settle_chains`` reads ``repeatables``).

    Returns two WHERE clauses: a cheap one on the day, before the calendar (a record before
    ``older`` reaches not even ``first``), and the exact one on the reaches.
    """
    first = as_of - timedelta(days=31 * rules.repeat_months)
    older = first - timedelta(days=31 * rules.repeat_months)
    day = f"DATE {lit(first.isoformat())}"
    return (
        f"WHERE day >= DATE {lit(older.isoformat())}",
        f"WHERE day >= {day} OR NOT coalesce(us < {day} AND ud < {day}, FALSE)",
    )


def _horizon(rules: RulebookSQL, as_of: date) -> str:
    """A day before which no record can count at ``as_of``, with a month to spare."""
    months = max(as_of.year * 12 + as_of.month - 1 - rules.horizon_months - 1, 12)
    return f"DATE {lit(date(months // 12, months % 12 + 1, min(as_of.day, 28)).isoformat())}"


#: Key subjects by a hash of kind and id (one join fewer); False numbers them, as happens
#: anyway when two subjects' hashes collide (about once in 10^7 runs of a million subjects).
HASH_SUBJECTS = True


def _subjects(con: duckdb.DuckDBPyConnection) -> str:
    """Create ``subjects`` (subj, kind, sid); return the SQL of a record's ``subj``."""
    con.execute("""
        CREATE TABLE subjects AS
        SELECT DISTINCT hash(subject_kind, subject_id) AS subj, subject_kind AS kind,
               subject_id AS sid
        FROM src
    """)
    ((subjects, hashes),) = con.execute(
        "SELECT count(*), count(DISTINCT subj) FROM subjects"
    ).fetchall()
    if subjects == hashes and HASH_SUBJECTS:
        return "hash(s.subject_kind, s.subject_id)"
    con.execute("""
        CREATE OR REPLACE TABLE subjects AS
        SELECT CAST(row_number() OVER () AS UBIGINT) AS subj, kind, sid FROM subjects
    """)
    return "u.subj"


#: Rounds of the chain iteration before a subject is left to the exact path.
MAX_ROUNDS = 64


def _settle_chains(con: duckdb.DuckDBPyConnection) -> str:
    """Decide the repeats the window left open; return a relation of the unsettled subjects.

    Within a class, "is record i a repeat" depends only on the records before it, so the
    system has exactly one solution and iterating it from any start (each round recomputing
    every record from the previous round's answers) reaches that solution after at most as
    many rounds as the chain is long; a round that changes nothing has found it. In practice
    two or three rounds settle everything; a class still changing after ``MAX_ROUNDS`` goes
    to the exact path.
    """
    con.execute(f"""
        CREATE TABLE chain AS
        SELECT rid, subj, ci, day, ref, pid, {REACHES}, FALSE AS d FROM (
          SELECT * FROM repeatables r
          SEMI JOIN (SELECT DISTINCT subj, ci FROM rep WHERE NOT certain) o
            ON o.subj = r.subj AND o.ci = r.ci
        )
    """)
    for _ in range(MAX_ROUNDS):
        con.execute("""
            CREATE TABLE chain_next AS
            SELECT rid, subj, ci, day, ref, pid, us, ud,
                   coalesce(max(CASE WHEN d THEN ud ELSE us END) OVER (
                     PARTITION BY subj, ci ORDER BY day, ref, pid
                     ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) >= day, FALSE) AS d,
                   d AS was
            FROM chain
        """)
        con.execute("DROP TABLE chain")
        con.execute("ALTER TABLE chain_next RENAME TO chain")
        ((changed,),) = con.execute("SELECT count(*) FROM chain WHERE d <> was").fetchall()
        con.execute("ALTER TABLE chain DROP COLUMN was")
        if not changed:
            return "(SELECT NULL AS subj WHERE FALSE)"
    return "(SELECT DISTINCT subj FROM chain)"
