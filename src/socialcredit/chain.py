"""Hash chains: each entry's hash covers its content and the hash of the entry before it.

Changing, inserting or deleting any stored entry changes every hash after it, so
``scs verify`` finds the first entry that no longer matches. Pure functions only.
"""

from __future__ import annotations

import hashlib

GENESIS = bytes(32)


def entry_hash(previous: bytes, seq: int, recorded_at: str | bytes, content_hash: bytes) -> bytes:
    """The hash of entry ``seq``: SHA-256 over the previous hash, seq, time and content hash.

    ``recorded_at`` may be passed pre-encoded when hashing a whole batch with one timestamp.
    """
    stamp = recorded_at if isinstance(recorded_at, bytes) else recorded_at.encode()
    return hashlib.sha256(previous + seq.to_bytes(8, "big") + stamp + content_hash).digest()
