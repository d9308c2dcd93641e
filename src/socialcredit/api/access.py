"""What the routers that touch a person's data share: naming the subject, and the audit trail.

``audit`` commits its entry before it returns, and routers call it before they build their
answer's response, so nothing about a person leaves the registry unlogged.
"""

from __future__ import annotations

from socialcredit.api.errors import invalid_field
from socialcredit.identifiers import InvalidIdentifier, SubjectKind, infer_kind, normalise
from socialcredit.store import audit as trail
from socialcredit.store.keys import ApiKey
from socialcredit.store.registry import Registry

#: The worked examples of identifiers.md (a person, an organisation), shown in the OpenAPI
#: document so that /docs and a schema fuzzer try numbers that pass their checks.
SUBJECT_EXAMPLES = ["11010519491231002X", "91110000600037341L"]


def identify(served: Registry, raw: str, field: str) -> tuple[SubjectKind, str]:
    """The kind (from the identifier's shape) and normalised number, or 422 naming ``field``."""
    kind = infer_kind(raw)
    try:
        return kind, normalise(kind, raw, served.legacy_codes())
    except InvalidIdentifier as exc:
        raise invalid_field(field, str(exc)) from None


def subject_id(served: Registry, kind: SubjectKind, number: str) -> int | None:
    found = served.find_subject(kind, number)
    return None if found is None else found.id


def audit(
    served: Registry,
    key: ApiKey,
    subject: int | None,
    action: str,
    result: str,
    purpose: str | None = None,
) -> None:
    """Append to the audit log and commit."""
    with served.writer.begin() as conn:
        trail.append(conn, key.id, key.role.value, subject, action, result, purpose)
