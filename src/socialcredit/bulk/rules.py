"""The rulebook as SQL: tables and expressions the bulk pipeline joins and evaluates.

Everything here is derived from the ``Rulebook`` model, the same values ``scoring`` reads:
points per type and kind, tiers, validity periods, grade bands and their caps, repairs, lists
and measures. The pipeline never names a record type, grade or list of a shipped rulebook, so
a change to a rulebook changes both engines at once and there is no second copy of the rules
to drift. Where the model allows something this translation does not express (a score
condition, two annual caps on one category), the type is marked ``exact``: its subjects are
scored by ``scoring.evaluate`` itself.
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

from socialcredit.catalog import Polarity
from socialcredit.identifiers import SubjectKind
from socialcredit.rulebook.model import Period, RecordRule, Rulebook, TierBasis, ValidityRule

#: One row per (type, kind) the rulebook scores; a record matching no row is ``not_scored``.
TYPES_SCHEMA = pa.schema(
    [
        ("ti", pa.int32()),
        ("type", pa.string()),
        ("kind", pa.string()),
        ("cat", pa.string()),
        ("ci", pa.int32()),  # the category as a number, for cheap partitioning
        ("neg", pa.bool_()),
        ("points", pa.int64()),
        ("tiers_by", pa.string()),
        ("drank", pa.int32()),  # the direct grade's rank (0 = best), or null
        ("dcap", pa.int64()),  # the score cap of that direct grade
        ("corrects", pa.bool_()),
        ("doubling", pa.bool_()),  # repeatable: doubled as a repeat, makes later ones repeats
        ("highest", pa.bool_()),
        ("exact", pa.bool_()),  # subjects with such a record take the exact path
        ("cap", pa.int64()),  # the annual cap of the type's category, or null
        ("fixed_m", pa.int32()),  # the type's own validity in months, or null
        ("direct_m", pa.int32()),  # the direct grade's validity in months, or null
    ]
)
REPAIRS_SCHEMA = pa.schema(
    [
        ("ord", pa.int32()),
        ("code", pa.string()),
        ("ends", pa.string()),
        ("by", pa.string()),
        ("kind", pa.string()),
        ("points", pa.int64()),
        ("months", pa.int32()),
    ]
)


def lit(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _num(value: float) -> str:
    """A float as a DOUBLE literal that parses to exactly the same double as in Python."""
    return f"CAST({lit(repr(float(value)))} AS DOUBLE)"


class RulebookSQL:
    """The rulebook's tables (as Arrow) and the SQL expressions built from its values."""

    def __init__(self, rulebook: Rulebook):
        self.rb = rulebook
        caps = Counter(cap.category for cap in rulebook.counting.annual_caps)
        self._caps = {c.category: c.points for c in rulebook.counting.annual_caps}
        self._twice_capped = {category for category, n in caps.items() if n > 1}
        if len(rulebook.lists) > 62:
            raise ValueError("bulk scoring supports at most 62 lists (a bit each in a BIGINT)")
        self.factor = rulebook.counting.repeat_factor or 1
        self._categories = {
            c: i for i, c in enumerate(sorted({t.category for t in rulebook.types.values()}))
        }
        self.types = self._types_table()
        self.repairs = self._repairs_table()

    # -- tables ---------------------------------------------------------------------------
    def _types_table(self) -> pa.Table:
        rb = self.rb
        rows: list[dict[str, object]] = []
        for rule in rb.types.values():
            for kind in SubjectKind:
                if kind in rule.kinds:
                    rows.append(self._type_row(len(rows), rule, kind))
        return pa.Table.from_pylist(rows, schema=TYPES_SCHEMA)

    def _type_row(self, ti: int, rule: RecordRule, kind: SubjectKind) -> dict[str, object]:
        rb = self.rb
        direct = rule.direct_grade
        band = rb.band(direct) if direct is not None else None
        points = rule.points.get(kind) if rule.points is not None else None
        exact = (
            rule.only_if is not None
            or rule.category in self._twice_capped
            or (rule.points is not None and points is None)  # the engine would fail: let it
            or (rule.corrects and rule.count_highest)
        )
        return {
            "ti": ti,
            "type": rule.code,
            "kind": kind.value,
            "cat": rule.category,
            "ci": self._categories[rule.category],
            "neg": rule.polarity is Polarity.NEGATIVE,
            "points": points,
            "tiers_by": rule.tiers_by.value if rule.tiers_by is not None else None,
            "drank": rb.grade_rank(direct) if direct is not None else None,
            "dcap": rb.direct_grade_cap(direct) if direct is not None else None,
            "corrects": rule.corrects,
            "doubling": (
                rb.counting.repeat_factor is not None
                and rule.polarity is Polarity.NEGATIVE
                and rule.repeat_doubling
                and direct is None
                and not rule.corrects
            ),
            "highest": rule.count_highest,
            "exact": exact,
            "cap": self._caps.get(rule.category),
            "fixed_m": rule.validity.span if rule.validity is not None else None,
            "direct_m": (
                band.direct_validity.span
                if band is not None and band.direct_validity is not None
                else None
            ),
        }

    def _repairs_table(self) -> pa.Table:
        rows = [
            {
                "ord": i,
                "code": repair.code,
                "ends": end,
                "by": by,
                "kind": kind.value,
                "points": points,
                "months": repair.validity.span,
            }
            for i, repair in enumerate(self.rb.repairs)
            for end in sorted(repair.ends)
            for by in sorted(repair.by)
            for kind, points in repair.points.items()
        ]
        return pa.Table.from_pylist(rows, schema=REPAIRS_SCHEMA)

    # -- expressions ----------------------------------------------------------------------
    def base_points(self, type_col: str, amount: str, quantity: str) -> str:
        """Step 3 for tiered types: the tier reached by the amount or quantity, or NULL."""
        cases = []
        for rule in self.rb.types.values():
            if rule.tiers_by is None:
                continue
            value = amount if rule.tiers_by is TierBasis.AMOUNT else quantity
            cases.append(f"WHEN {lit(rule.code)} THEN {self._tier_points(rule, value)}")
        if not cases:
            return "NULL"
        return f"(CASE {type_col} {' '.join(cases)} END)"

    @staticmethod
    def _tier_points(rule: RecordRule, value: str) -> str:
        # RecordRule.tier_points: the last tier in rule order that the value reaches.
        whens = []
        for tier in reversed(rule.tiers):
            if tier.per is None:
                points = str(tier.points)
            else:
                points = (
                    f"{tier.points} * CAST(floor({value} / {_num(tier.per)} + "
                    f"{_num(1e-9)}) AS BIGINT)"
                )
            whens.append(f"WHEN {value} >= {_num(tier.start)} THEN {points}")
        raw = f"(CASE {' '.join(whens)} ELSE 0 END)"
        if rule.max_points is not None:
            top = rule.max_points
            raw = f"(CASE WHEN abs({raw}) > {top} THEN sign({raw}) * {top} ELSE {raw} END)"
        return f"(CASE WHEN {value} IS NULL THEN NULL ELSE {raw} END)"

    def period(self, points: str, neg: str, fixed: str, drank: str, direct: str) -> str:
        """Step 7: validity in months: the type's own, the direct grade's, or by size."""
        v = self.rb.validity
        by_size = (
            f"CASE WHEN {neg} THEN {_by_size(v.negative, points)} "
            f"ELSE {_by_size(v.positive, points)} END"
        )
        return (
            f"(CASE WHEN {fixed} IS NOT NULL THEN {fixed} "
            f"WHEN {drank} IS NOT NULL THEN {direct} ELSE {by_size} END)"
        )

    def band_rank(self, score: str) -> str:
        """The rank of the band the score lies in (``Rulebook.grade_for``)."""
        whens = []
        for rank, band in enumerate(self.rb.grades):
            parts = []
            if band.minimum is not None:
                parts.append(f"{score} >= {band.minimum}")
            if band.maximum is not None:
                parts.append(f"{score} <= {band.maximum}")
            whens.append(f"WHEN {' AND '.join(parts) or 'TRUE'} THEN {rank}")
        return f"(CASE {' '.join(whens)} END)"

    def grade_names(self) -> str:
        return "[" + ", ".join(lit(band.grade) for band in self.rb.grades) + "]"

    def clamp(self, score: str) -> str:
        scale = self.rb.score
        if scale.minimum is not None:
            score = f"greatest({score}, {scale.minimum})"
        if scale.maximum is not None:
            score = f"least({score}, {scale.maximum})"
        return score

    def list_holds(self) -> list[tuple[str, str]]:
        """Per list with types: (column name, the condition a record must meet to hold it)."""
        ti: dict[str, list[int]] = {}
        for row in self.types.select(["ti", "type"]).to_pylist():
            ti.setdefault(row["type"], []).append(row["ti"])
        out = []
        for i, listing in enumerate(self.rb.lists):
            if listing.types:
                numbers = sorted(n for code in listing.types for n in ti.get(code, ()))
                listed = ", ".join(map(str, numbers))
                out.append((f"l{i}", f"ti IN ({listed})" if numbers else "FALSE"))
        return out

    def list_mask(self, rank: str, score: str) -> str:
        """The lists a subject is on as a bit mask (bit i: ``rulebook.lists[i]``).

        Per subject only this integer is computed; ``memberships`` turns each of the few
        distinct masks into codes once, instead of building lists of strings a million times.
        """
        bits = []
        for i, listing in enumerate(self.rb.lists):
            parts = []
            if listing.grades:
                ranks = sorted(self.rb.grade_rank(g) for g in listing.grades)
                parts.append(f"{rank} IN ({', '.join(map(str, ranks))})")
            if listing.score_range is not None:
                low, high = listing.score_range
                bounds = [f"{score} >= {low}" if low is not None else "TRUE"]
                bounds.append(f"{score} <= {high}" if high is not None else "TRUE")
                parts.append("(" + " AND ".join(bounds) + ")")
            if listing.types:
                parts.append(f"coalesce(l{i}, FALSE)")
            if parts:
                bits.append(f"CASE WHEN {' OR '.join(parts)} THEN {1 << i} ELSE 0 END")
        return " + ".join(bits) or "0"

    def memberships(self, kind: str, mask: int) -> tuple[list[str], list[str]]:
        """The list codes of ``mask`` and the measures they trigger for ``kind``, in order.

        As ``scoring`` step 13: lists in rulebook order; a measure applies if any of its
        lists is on and it applies to the subject's kind.
        """
        rb = self.rb
        on = [listing.code for i, listing in enumerate(rb.lists) if mask >> i & 1]
        subject_kind = SubjectKind(kind)
        measures = [
            m.code
            for m in rb.measures
            if subject_kind in m.kinds and any(code in on for code in m.lists)
        ]
        return on, measures

    @property
    def capped_repeats(self) -> bool:
        """Whether some type is both repeatable and under an annual cap."""
        return any(
            row["doubling"] and row["cap"] is not None
            for row in self.types.select(["doubling", "cap"]).to_pylist()
        )

    @property
    def horizon_months(self) -> int:
        """The longest any record can count, in months: no record older counts or holds."""
        rb = self.rb
        periods = [t.validity for t in rb.types.values() if t.validity is not None]
        periods += [b.direct_validity for b in rb.grades if b.direct_validity is not None]
        periods += [r.validity for r in rb.repairs]
        for rule in (rb.validity.positive, rb.validity.negative):
            periods += [step.period for step in rule.steps] if rule is not None else []
        return max((p.span for p in periods), default=0)

    @property
    def repeat_months(self) -> int:
        """The longest a repeatable record (doubled or not) can count, in months."""
        rb = self.rb
        negative = rb.validity.negative
        by_size = [step.period.span for step in negative.steps] if negative is not None else []
        periods = [
            rule.validity.span if rule.validity is not None else max(by_size, default=0)
            for rule in rb.types.values()
            if rule.repeat_doubling
            and rule.polarity is Polarity.NEGATIVE
            and rule.direct_grade is None
            and not rule.corrects
        ]
        return max(periods, default=0)

    @property
    def history_months(self) -> int | None:
        history: Period | None = self.rb.validity.history
        return history.span if history is not None else None


def _by_size(rule: ValidityRule | None, points: str) -> str:
    """``ValidityRule.period_for``: the first step the size fits (NULL: the engine has none)."""
    if rule is None:
        return "NULL"
    whens = []
    last = "NULL"
    for step in rule.steps:
        if step.up_to is None:
            last = str(step.period.span)
            break
        whens.append(f"WHEN abs({points}) <= {step.up_to} THEN {step.period.span}")
    return f"(CASE {' '.join(whens)} ELSE {last} END)" if whens else last
