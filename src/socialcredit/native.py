"""Which execution of the scoring engine's steps runs: compiled, or interpreted.

The install compiles ``evaluation.py`` with mypyc where it can (``hatch_build.py``) into
``socialcredit._native_evaluation``, stamped with the SHA-256 of the source it was built from.
The compiled copy is used only while that stamp matches the ``evaluation.py`` installed beside
it: after an edit to the source (a developer's editable install) the engine runs interpreted
until the next install rather than run code that is no longer the source. Both are the same
program, proven equal on random histories by ``tests/test_compiled_engine.py``.

``SCS_ENGINE`` chooses: ``auto`` (the default: compiled when current, else interpreted),
``interpreted``, or ``compiled`` (fail at import rather than run interpreted; CI sets it).
"""

from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path
from types import ModuleType

NATIVE_MODULE = "socialcredit._native_evaluation"
SOURCE = Path(__file__).with_name("evaluation.py")
CHOICES = ("auto", "compiled", "interpreted")


class EngineUnavailable(RuntimeError):
    """``SCS_ENGINE=compiled`` was asked for and no current compiled engine is installed."""


def compiled(source: Path = SOURCE, module: str = NATIVE_MODULE) -> ModuleType | None:
    """The compiled engine if it is installed and was built from ``source`` as it is now."""
    try:
        native = importlib.import_module(module)
    except ImportError:  # not built (no C compiler, SCS_NO_COMPILE=1), or for another Python
        return None
    built_from = getattr(native, "BUILT_FROM", None)
    return native if built_from == hashlib.sha256(source.read_bytes()).hexdigest() else None


def choose(setting: str | None = None) -> ModuleType | None:
    """The compiled engine to run, or None for the interpreted one, as ``SCS_ENGINE`` says."""
    choice = (setting if setting is not None else os.environ.get("SCS_ENGINE", "auto")).lower()
    if choice not in CHOICES:
        raise ValueError(f"SCS_ENGINE must be one of {', '.join(CHOICES)}, not {choice!r}")
    if choice == "interpreted":
        return None
    native = compiled()
    if native is None and choice == "compiled":
        raise EngineUnavailable(
            "SCS_ENGINE=compiled, but no compiled engine built from this evaluation.py is "
            "installed: reinstall (pip install -e .) on a machine with a C compiler"
        )
    return native
