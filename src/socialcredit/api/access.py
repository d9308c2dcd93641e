"""What the routers that touch a person's data share: naming the subject, and the audit trail.

``audit`` and ``record_reads`` commit their entries before they return, and routers call them
before they build their answer's response, so nothing about a person leaves the registry
unlogged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from operator import itemgetter

from sqlalchemy import Connection

from socialcredit.api import metrics
from socialcredit.api.errors import invalid_field
from socialcredit.identifiers import InvalidIdentifier, SubjectKind, infer_kind, normalise
from socialcredit.notices import Draft
from socialcredit.store import audit as trail
from socialcredit.store import outbox
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


def subject_ref(served: Registry, key: ApiKey, keyed: str) -> str:
    """The opaque reference under which ``key`` sees the subject with keyed hash ``keyed``.

    A consumer needs to match change-feed entries to people it has checked, and must not
    learn who anyone else in the feed is: an HMAC of the subject's keyed hash (itself an HMAC
    of the number, ``identifiers.subject_key``) under the registry's secret and the key's id
    gives each key its own references, so two consumers cannot join their data on them, and
    nobody without the secret can test a number against one. It is made from the number, not
    the row id, so a subject the registry has no file on yet gets the reference its first
    record will later appear under in the feed, and a check does not tell the two apart.
    """
    return _subject_ref(served.secret, key.id, keyed)


#: References kept: a railway's consumer key asks about the same travellers all day, and an
#: HMAC and a base-32 encoding per answer cost more than the rest of building it. A
#: reference never changes (it depends on the secret, the key's id and the subject only).
REFS_KEPT = 200_000


def subject_ref_items(served: Registry, key: ApiKey) -> RefItems:
    """``key``'s references as the ends of batch check items, by keyed hash: a dict look-up
    a subject where ``subject_ref`` is a cached call and the item's formatting, a fifth of
    building a batch's answer (``checks._results``)."""
    return _ref_items(served.secret, key.id)


class RefItems(dict[str, bytes]):
    """``,"subject_ref":"…"}`` by keyed hash for one key, made on first use; emptied when it
    holds ``REFS_KEPT``, so a key that checks millions of people keeps a bounded number."""

    def __init__(self, secret: bytes, key_id: str) -> None:
        super().__init__()
        self.secret, self.key_id = secret, key_id

    def __missing__(self, keyed: str) -> bytes:
        if len(self) >= REFS_KEPT:
            self.clear()
        made = self[keyed] = (
            b',"subject_ref":"%s"}' % _make_ref(self.secret, self.key_id, keyed).encode()
        )
        return made


@lru_cache(maxsize=64)
def _ref_items(secret: bytes, key_id: str) -> RefItems:
    return RefItems(secret, key_id)


def _make_ref(secret: bytes, key_id: str, keyed: str) -> str:
    """A reference, made (``RefItems`` keeps its own, so batch checks do not fill both)."""
    mac = hmac.new(secret, f"subject_ref:{key_id}:{keyed}".encode(), hashlib.sha256)
    return base64.b32encode(mac.digest()[:15]).decode().lower()


_subject_ref = lru_cache(maxsize=REFS_KEPT)(_make_ref)


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
    metrics.audited(action, result)


def record_reads(
    served: Registry,
    key: ApiKey,
    action: str,
    purpose: str,
    reads: Sequence[tuple[int | None, str]],
    notices: Sequence[tuple[int, list[Draft]]] = (),
) -> None:
    """Log one read per (subject id, result), and write the notices the answer calls for, in
    one transaction committed before the caller answers: the subject is told of a restriction
    before any consumer learns of it, and a batch of reads lands whole or not at all."""
    group = readings(key, action, purpose, reads)
    with served.writer.begin() as conn:
        write_reads(conn, [group], notices)
    counted([group])


def readings(
    key: ApiKey, action: str, purpose: str, reads: Sequence[tuple[int | None, str]]
) -> trail.Readings:
    return trail.Readings(key.id, key.role.value, action, purpose, reads)


def write_reads(
    conn: Connection,
    entries: Sequence[trail.Readings],
    notices: Sequence[tuple[int, list[Draft]]] = (),
) -> None:
    """The notices first, then the audit entries, in the caller's writer transaction."""
    for subject, drafts in notices:
        outbox.ensure(conn, subject, drafts)
    trail.append_many(conn, entries)


def counted(groups: Sequence[trail.Readings]) -> None:
    """Count committed reads in the metrics (after the commit: a rolled-back read is none):
    one count per action and result for all the groups, which for the group commit are the
    reads of every request it wrote (a single check's group is one read)."""
    totals: Counter[tuple[str, str]] = Counter()
    for group in groups:
        if len(group.reads) == 1:
            totals[(group.action, group.reads[0][1])] += 1
            continue
        for result, count in Counter(map(itemgetter(1), group.reads)).items():
            totals[(group.action, result)] += count
    for (action, result), count in totals.items():
        metrics.audited(action, result, count)
