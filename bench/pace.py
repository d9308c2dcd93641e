"""The machine's pace: two fixed pieces of work timed the same way on every machine.

The issues name absolute rates "on this 2-core machine", but the machine a session runs on is
not always the same one, nor equally fast (session 5's ran pure Python about twice as slowly
as session 4's). Every benchmark prints these figures beside its own, so that a rate can be
read against the pace of the machine that produced it:

- ``python_loop_ns`` — one turn of a plain ``for`` loop adding integers, in nanoseconds: the
  interpreter's speed, which sets the pace of everything our Python does;
- ``sha256_ns`` — hashing 64 bytes (``hashlib.sha256``), in nanoseconds: the C side, which
  sets the pace of the hash chains and keyed hashes.

Each is the fastest of five timings (contention only ever adds time). Run it on its own with
``python bench/pace.py``.
"""

from __future__ import annotations

import hashlib
import json
import time

LOOP_TURNS = 2_000_000
HASHES = 200_000


def _loop_ns() -> float:
    started = time.perf_counter()
    total = 0
    for n in range(LOOP_TURNS):
        total += n
    return (time.perf_counter() - started) / LOOP_TURNS * 1e9


def _sha256_ns() -> float:
    block, sha256 = b"\x5a" * 64, hashlib.sha256
    started = time.perf_counter()
    for _ in range(HASHES):
        sha256(block).digest()
    return (time.perf_counter() - started) / HASHES * 1e9


def machine_pace() -> dict[str, float]:
    """The fastest of five timings of each reference piece of work (about a second)."""
    return {
        "python_loop_ns": round(min(_loop_ns() for _ in range(5)), 1),
        "sha256_ns": round(min(_sha256_ns() for _ in range(5)), 1),
    }


if __name__ == "__main__":
    print(json.dumps(machine_pace()))
