"""Records: the facts the registry holds, and the checks a record must pass to be one.

A record says that a provider (an authority) reports conduct of a type about a subject on a
date. Records are appended to the ledger and never changed; everything else (scores, grades,
lists) is derived from them. This module is pure: it turns submitted data (a JSON object or a
flat row of a CSV or Parquet file) into a ``Record`` or a list of ``FieldError`` naming every
field that is wrong and why.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeGuard

import orjson

from socialcredit.catalog import RecordType
from socialcredit.identifiers import InvalidIdentifier, SubjectKind, normalise
from socialcredit.providers import Provider

#: The fields of a record as JSON, and the flat columns of CSV and Parquet files.
RECORD_FIELDS = (
    "provider",
    "ref",
    "subject",
    "type",
    "occurred_on",
    "reported_on",
    "act",
    "amount",
    "quantity",
    "relates_to",
    "evidence",
    "legal_basis",
)
SUBJECT_FIELDS = ("kind", "id", "name")
FLAT_COLUMNS = (
    "provider",
    "ref",
    "subject_kind",
    "subject_id",
    "subject_name",
    "type",
    "occurred_on",
    "reported_on",
    "act",
    "amount",
    "quantity",
    "relates_to",
    "evidence",
    "legal_basis",
)
REQUIRED_FLAT_COLUMNS = ("provider", "ref", "subject_kind", "subject_id", "type", "occurred_on")

#: Longest accepted text per field, in characters. Generous for real use, small enough that a
#: hostile 10 MB field is refused by name instead of bloating the ledger.
MAX_LENGTH = {
    "provider": 64,
    "ref": 128,
    "type": 64,
    "act": 128,
    "relates_to": 128,
    "evidence": 2000,
    "legal_basis": 500,
    "subject.name": 200,
    "subject.id": 32,
}
#: Largest amount or quantity accepted (yuan or units); anything above is a unit mistake.
MAX_NUMBER = 1e13

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ALLOWED_FIELDS = frozenset(RECORD_FIELDS)
_ALLOWED_SUBJECT_FIELDS = frozenset(SUBJECT_FIELDS)
#: Where each flat column goes in the JSON shape: the subject's three into ``subject``.
_FLAT_SUBJECT = {"subject_kind": "kind", "subject_id": "id", "subject_name": "name"}
_FLAT_FIELDS = frozenset(FLAT_COLUMNS)
#: A CSV cell that is a plain decimal number: ``float`` of it is the correctly rounded value
#: ``_number`` gets through ``Decimal``. Anything else (a sign, an exponent, spaces) is left
#: to the validator.
_PLAIN_DECIMAL = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,15})?")
_NUMBER_COLUMNS = frozenset({"amount", "quantity"})


@dataclass(frozen=True, slots=True)
class SubjectRef:
    """A subject as a record names it: kind, normalised identifier, optional name."""

    kind: SubjectKind
    id: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Record:
    provider: str
    ref: str
    subject: SubjectRef
    type: str
    occurred_on: date
    reported_on: date | None = None
    act: str | None = None
    amount: float | None = None
    quantity: float | None = None
    relates_to: str | None = None
    evidence: str | None = None
    legal_basis: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The record in the submission format (with the identifier: handle with care)."""
        out: dict[str, Any] = {
            "provider": self.provider,
            "ref": self.ref,
            "subject": {"kind": self.subject.kind.value, "id": self.subject.id},
            "type": self.type,
            "occurred_on": self.occurred_on.isoformat(),
        }
        if self.subject.name is not None:
            out["subject"]["name"] = self.subject.name
        for name in ("act", "amount", "quantity", "relates_to", "evidence", "legal_basis"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.reported_on is not None:
            out["reported_on"] = self.reported_on.isoformat()
        return out


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class RecordRejected(ValueError):
    """A submitted record failed validation; ``errors`` names every bad field."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


#: ``RecordValidator.quick_json``'s answer: provider, ref, subject kind, normalised subject id,
#: subject name, type, occurred_on and reported_on (ISO text), act, amount, quantity,
#: relates_to, evidence, legal_basis.
QuickRecord = tuple[
    str, str, str, str, str | None, str, str, str | None, str | None,
    float | None, float | None, str | None, str | None, str | None,
]  # fmt: skip


def canonical_bytes(content: Mapping[str, Any]) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace, floats in shortest round-trip form."""
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)


class RecordValidator:
    """Checks submitted records against the registry's providers, catalog and clock.

    Pure: it holds the context it needs (providers, record types, the legacy allow-list and
    today's date) and does no I/O, so importers, the API and tests share one set of rules.
    """

    def __init__(
        self,
        providers: Mapping[str, Provider],
        types: Mapping[str, RecordType],
        today: date,
        legacy_codes: frozenset[str] = frozenset(),
    ):
        self.providers = providers
        self.types = types
        self.today = today
        self.legacy_codes = legacy_codes
        self._allowed: dict[tuple[str, str], bool] = {}
        self._dates: dict[str, date | str] = {}
        self._quick_types: dict[tuple[Any, Any, str], bool] = {}
        self._quick_ids: dict[tuple[str, str], str] = {}

    # -- entry points -------------------------------------------------------------------
    def from_json(self, obj: Any) -> Record:
        """Validate a record in the JSON submission format."""
        if not isinstance(obj, Mapping):
            raise RecordRejected([FieldError("record", "must be a JSON object")])
        errors: list[FieldError] = []
        if not obj.keys() <= _ALLOWED_FIELDS:
            errors.extend(
                FieldError(str(key)[:64], "unknown field")
                for key in obj
                if key not in _ALLOWED_FIELDS
            )
        subject = obj.get("subject")
        if subject is None:
            errors.append(FieldError("subject", "missing"))
            subject = {}
        elif not isinstance(subject, Mapping):
            errors.append(FieldError("subject", "must be an object with kind, id and name"))
            subject = {}
        elif not subject.keys() <= _ALLOWED_SUBJECT_FIELDS:
            errors.extend(
                FieldError(f"subject.{str(key)[:64]}", "unknown field")
                for key in subject
                if key not in _ALLOWED_SUBJECT_FIELDS
            )
        return self._build(
            errors,
            obj.get("provider"),
            obj.get("ref"),
            subject.get("kind"),
            subject.get("id"),
            subject.get("name"),
            obj.get("type"),
            obj.get("occurred_on"),
            obj.get("reported_on"),
            obj.get("act"),
            obj.get("amount"),
            obj.get("quantity"),
            obj.get("relates_to"),
            obj.get("evidence"),
            obj.get("legal_basis"),
        )

    def from_flat(self, row: Mapping[str, Any]) -> Record:
        """Validate a flat row (CSV or Parquet columns); empty cells count as absent."""
        errors = [FieldError(str(k)[:64], "unknown column") for k in row if k not in FLAT_COLUMNS]

        def get(name: str) -> Any:
            value = row.get(name)
            return None if value == "" else value

        return self._build(
            errors,
            get("provider"),
            get("ref"),
            get("subject_kind"),
            get("subject_id"),
            get("subject_name"),
            get("type"),
            get("occurred_on"),
            get("reported_on"),
            get("act"),
            get("amount"),
            get("quantity"),
            get("relates_to"),
            get("evidence"),
            get("legal_basis"),
        )

    def quick_flat(self, row: Any) -> QuickRecord | None:
        """``quick_json`` for a flat row, as ``from_flat`` reads it (a Parquet or CSV row).

        The row is put in the JSON shape: empty cells left out, since ``from_flat`` counts
        them absent, a date cell (Parquet's ``date`` columns) written as its ISO text,
        which ``_build`` reads as the same day, and an amount or quantity written as a plain
        decimal (every CSV number) as the number ``_build`` makes of it. Anything else
        passes unchanged, so whatever ``quick_json`` is unsure of (a number with a sign or
        an exponent, a timestamp, an unknown column) is still ``None``, and the caller asks
        ``from_flat``. A property test holds the two to the same answers.
        """
        if type(row) is not dict or not row.keys() <= _FLAT_FIELDS:
            return None
        obj: dict[str, Any] = {}
        subject: dict[str, Any] = {}
        for name, value in row.items():
            if value is None or (type(value) is str and not value):
                continue
            if type(value) is date:
                value = value.isoformat()
            elif name in _NUMBER_COLUMNS and type(value) is str and _PLAIN_DECIMAL.fullmatch(value):
                value = float(value)
            where = _FLAT_SUBJECT.get(name)
            if where is None:
                obj[name] = value
            else:
                subject[where] = value
        obj["subject"] = subject
        return self.quick_json(obj)

    def quick_json(self, obj: Any) -> QuickRecord | None:
        """The plain case of ``from_json`` at a fraction of its cost, or ``None`` if unsure.

        Bulk imports are almost all well-formed records from a handful of providers, types,
        dates and subjects seen over and over. This path accepts only inputs that every check
        of ``_build`` would accept, in their plainest form (strings as strings, numbers as
        numbers), remembers each verdict on a provider-type-kind, date or identifier, and
        returns the values ``_build`` would have produced. Anything else — an error, an odd
        but acceptable form — returns ``None``, and the caller asks ``from_json``, which
        names every error. A property test holds the two to the same answers.
        """
        if type(obj) is not dict or not obj.keys() <= _ALLOWED_FIELDS:
            return None
        get = obj.get
        subject = get("subject")
        if type(subject) is not dict or not subject.keys() <= _ALLOWED_SUBJECT_FIELDS:
            return None
        provider, rtype = get("provider"), get("type")
        kind, sid = subject.get("kind"), subject.get("id")
        if not (type(provider) is type(rtype) is type(kind) is type(sid) is str):
            return None
        allowed = self._quick_types.get((provider, rtype, kind))
        if allowed is None:
            allowed = self._quick_types[(provider, rtype, kind)] = self._plain_type(
                provider, rtype, kind
            )
        if not allowed:
            return None
        number = self._quick_ids.get((kind, sid))
        if number is None:
            if len(sid) > MAX_LENGTH["subject.id"]:
                return None
            try:
                number = normalise(SubjectKind(kind), sid, self.legacy_codes)
            except InvalidIdentifier:
                return None
            if len(self._quick_ids) > 1_000_000:
                self._quick_ids.clear()
            self._quick_ids[(kind, sid)] = number
        ref, act, relates_to = get("ref"), get("act"), get("relates_to")
        if not _plain_token(ref, 128) or not (act is None or _plain_token(act, 128)):
            return None
        if relates_to is not None and not _plain_token(relates_to, 128):
            return None
        name, evidence, legal_basis = subject.get("name"), get("evidence"), get("legal_basis")
        if name is not None:
            if type(name) is not str or len(name) > 200 or not name.isprintable():
                return None
            name = name.strip() or None
        if evidence is not None:
            if type(evidence) is not str or len(evidence) > 2000 or not evidence.isprintable():
                return None
            evidence = evidence.strip() or None
        if legal_basis is not None:
            if (
                type(legal_basis) is not str
                or len(legal_basis) > 500
                or not legal_basis.isprintable()
            ):
                return None
            legal_basis = legal_basis.strip() or None
        amount, quantity = get("amount"), get("quantity")
        if amount is not None:
            if type(amount) is int:
                amount = float(amount)
            if type(amount) is not float or not 0.0 <= amount <= MAX_NUMBER:  # NaN fails too
                return None
            amount += 0.0
        if quantity is not None:
            if type(quantity) is int:
                quantity = float(quantity)
            if type(quantity) is not float or not 0.0 <= quantity <= MAX_NUMBER:
                return None
            quantity += 0.0
        occurred, reported = get("occurred_on"), get("reported_on")
        # A verdict that is a date means the text is exactly YYYY-MM-DD and not in the
        # future, so the text is its own ISO form and compares as dates do.
        if type(occurred) is not str or type(self._date_text(occurred)) is not date:
            return None
        if reported is not None and (
            type(reported) is not str
            or type(self._date_text(reported)) is not date
            or reported < occurred
        ):
            return None
        plain: QuickRecord = (
            provider, ref, kind, number, name, rtype, occurred, reported, act,
            amount, quantity, relates_to, evidence, legal_basis,
        )  # fmt: skip
        return plain

    def _plain_type(self, provider: Any, rtype: Any, kind: str) -> bool:
        """Whether a provider-type-kind triple passes every check in its plainest form."""
        if not (_plain_token(provider, 64) and _plain_token(rtype, 64)):
            return False
        errors: list[FieldError] = []
        try:
            subject_kind = SubjectKind(kind)
        except ValueError:
            return False
        self._check_type(provider, rtype, subject_kind, errors)
        return not errors

    # -- the checks -----------------------------------------------------------------------
    def _build(
        self,
        errors: list[FieldError],
        provider: Any,
        ref: Any,
        kind: Any,
        sid: Any,
        name: Any,
        rtype: Any,
        occurred: Any,
        reported: Any,
        act: Any,
        amount: Any,
        quantity: Any,
        relates_to: Any,
        evidence: Any,
        legal_basis: Any,
    ) -> Record:
        provider = _token("provider", provider, errors, required=True)
        ref = _token("ref", ref, errors, required=True)
        rtype = _token("type", rtype, errors, required=True)
        act = _token("act", act, errors)
        relates_to = _token("relates_to", relates_to, errors)
        name = _text("subject.name", name, errors)
        evidence = _text("evidence", evidence, errors)
        legal_basis = _text("legal_basis", legal_basis, errors)
        amount_v = _number("amount", amount, errors)
        quantity_v = _number("quantity", quantity, errors)
        occurred_v = self._date("occurred_on", occurred, errors, required=True)
        reported_v = self._date("reported_on", reported, errors)
        if occurred_v and reported_v and reported_v < occurred_v:
            errors.append(FieldError("reported_on", "is before occurred_on"))

        subject_kind: SubjectKind | None = None
        if kind is None:
            errors.append(FieldError("subject.kind", "missing"))
        else:
            try:
                subject_kind = SubjectKind(kind)
            except (ValueError, TypeError):
                errors.append(
                    FieldError(
                        "subject.kind",
                        f"{str(kind)[:40]!r} is not person, organisation or institution",
                    )
                )
        number: str | None = None
        if sid is None:
            errors.append(FieldError("subject.id", "missing"))
        elif not isinstance(sid, str):
            errors.append(FieldError("subject.id", "must be a string"))
        elif len(sid) > MAX_LENGTH["subject.id"]:
            errors.append(FieldError("subject.id", f"{len(sid)} characters, the limit is 32"))
        elif subject_kind is not None:
            try:
                number = normalise(subject_kind, sid, self.legacy_codes)
            except InvalidIdentifier as exc:
                errors.append(FieldError("subject.id", str(exc)))

        if provider is not None and rtype is not None:
            self._check_type(provider, rtype, subject_kind, errors)
        if errors:
            raise RecordRejected(errors)
        assert provider and ref and rtype and occurred_v and subject_kind and number
        return Record(
            provider,
            ref,
            SubjectRef(subject_kind, number, name),
            rtype,
            occurred_v,
            reported_v,
            act,
            amount_v,
            quantity_v,
            relates_to,
            evidence,
            legal_basis,
        )

    def _check_type(
        self, provider: str, rtype: str, kind: SubjectKind | None, errors: list[FieldError]
    ) -> None:
        known = self.providers.get(provider)
        record_type = self.types.get(rtype)
        if known is None:
            errors.append(FieldError("provider", f"unknown provider {provider!r}"))
        if record_type is None:
            errors.append(FieldError("type", f"unknown record type {rtype!r}"))
        if known is None or record_type is None:
            return
        allowed = self._allowed.get((provider, rtype))
        if allowed is None:
            allowed = self._allowed[(provider, rtype)] = known.may_submit(rtype)
        if not allowed:
            errors.append(
                FieldError(
                    "type",
                    f"provider {provider!r} may not submit {rtype!r} "
                    f"(allowed: {', '.join(known.type_patterns)})",
                )
            )
        if kind is not None and not record_type.applies_to(kind):
            errors.append(
                FieldError(
                    "subject.kind",
                    f"record type {rtype!r} applies to {record_type.kinds_text}, not {kind.value}",
                )
            )

    def _date(
        self, field: str, value: Any, errors: list[FieldError], required: bool = False
    ) -> date | None:
        if value is None:
            if required:
                errors.append(FieldError(field, "missing"))
            return None
        if isinstance(value, str):
            verdict = self._date_text(value)
        elif isinstance(value, date):  # datetime included: Parquet may carry timestamps
            verdict = self._date_verdict(value.date() if isinstance(value, datetime) else value)
        else:
            verdict = f"{str(value)[:40]!r} is not a date (YYYY-MM-DD)"
        if isinstance(verdict, str):
            errors.append(FieldError(field, verdict))
            return None
        return verdict

    def _date_text(self, value: str) -> date | str:
        """The verdict on a date given as text; a file names the same few thousand dates
        over and over, so each verdict is kept."""
        verdict = self._dates.get(value)
        if verdict is None:
            if len(self._dates) > 100_000:
                self._dates.clear()
            verdict = self._dates[value] = self._date_verdict(value)
        return verdict

    def _date_verdict(self, value: str | date) -> date | str:
        """The date ``value`` names, or why it is not an acceptable one."""
        if isinstance(value, str):
            if not (
                len(value) == 10 and value[4] == "-" and value[7] == "-" and value[:4].isdigit()
            ):
                return f"{value[:40]!r} is not a date (YYYY-MM-DD)"
            try:
                value = date.fromisoformat(value)
            except ValueError:
                return f"{value!r} is not a valid date"
        if value > self.today:
            return f"{value.isoformat()} is in the future (today is {self.today.isoformat()})"
        return value


def _plain_token(value: Any, limit: int) -> TypeGuard[str]:
    """``_token``'s verdict for a string that needs no conversion: accepted as it is."""
    return (
        type(value) is str
        and 0 < len(value) <= limit
        and value.isprintable()
        and value == value.strip()
        and "  " not in value
    )


def _token(field: str, value: Any, errors: list[FieldError], required: bool = False) -> str | None:
    """A short code-like text (provider, ref, type, act): printable, no control characters."""
    if value is None:
        if required:
            errors.append(FieldError(field, "missing"))
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        errors.append(FieldError(field, "must be a string"))
        return None
    limit = MAX_LENGTH[field]
    if len(value) > limit:
        errors.append(FieldError(field, f"{len(value)} characters, the limit is {limit}"))
        return None
    if not value or not value.isprintable() or value != value.strip() or "  " in value:
        errors.append(
            FieldError(field, "must be printable text without control characters or padding spaces")
        )
        return None
    return value


def _text(field: str, value: Any, errors: list[FieldError]) -> str | None:
    """A free text (name, evidence, legal basis): bounded, no control characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(FieldError(field, "must be a string"))
        return None
    limit = MAX_LENGTH[field]
    if len(value) > limit:
        errors.append(FieldError(field, f"{len(value)} characters, the limit is {limit}"))
        return None
    if not value.isprintable() and _CONTROL.search(value):
        errors.append(FieldError(field, "contains control characters"))
        return None
    value = value.strip()
    return value or None


def _number(field: str, value: Any, errors: list[FieldError]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        errors.append(FieldError(field, "must be a number, not true/false"))
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, Decimal | str):
        try:
            number = float(Decimal(str(value).strip()))
        except (InvalidOperation, ValueError):
            errors.append(FieldError(field, f"{str(value)[:40]!r} is not a number"))
            return None
    else:
        errors.append(FieldError(field, "must be a number"))
        return None
    if not math.isfinite(number):
        errors.append(FieldError(field, "must be a finite number"))
        return None
    if number < 0:
        errors.append(FieldError(field, f"{number:g} is negative"))
        return None
    if number > MAX_NUMBER:
        errors.append(FieldError(field, f"{number:g} is larger than {MAX_NUMBER:g}"))
        return None
    return number + 0.0  # normalise -0.0
