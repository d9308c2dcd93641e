"""The install's build hook (``hatch_build.py``): without a C compiler, or when told not to
compile, the install goes on with the interpreted engine and says why; an old compiled build
never outlives a new install.

The hook runs on a scratch copy of the package, never on this checkout's: an editable build
writes its compiled engine into ``src/``. That the compile itself works is proven by every
CI run, which installs with it and sets ``SCS_ENGINE=compiled``.
"""

from __future__ import annotations

import importlib.util
import shutil
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUFFIX = sysconfig.get_config_var("EXT_SUFFIX") or ".so"


def _hook_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hatch_build", ROOT / "hatch_build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's package, with a compiled engine left by an earlier install."""
    shutil.copytree(
        ROOT / "src" / "socialcredit",
        tmp_path / "src" / "socialcredit",
        ignore=shutil.ignore_patterns("*.so", "__pycache__"),
    )
    (tmp_path / "src" / "socialcredit" / f"_native_evaluation{SUFFIX}").write_bytes(b"old")
    return tmp_path


def _build(project: Path, version: str) -> tuple[dict[str, Any], Any]:
    """What the hook does to a wheel's build data, run as hatchling runs it; and the hook."""
    hook_class = _hook_module().CompiledEngine
    hook = hook_class(str(project), {}, None, None, str(project / "dist"), "wheel")
    build_data: dict[str, Any] = {"pure_python": True, "infer_tag": False, "force_include": {}}
    hook.initialize(version, build_data)
    hook.finalize(version, build_data, str(project / "dist" / "x.whl"))
    return build_data, hook


UNTOUCHED = {"pure_python": True, "infer_tag": False, "force_include": {}}


def _natives(project: Path) -> list[Path]:
    return sorted((project / "src" / "socialcredit").glob("_native_evaluation*"))


def test_scs_no_compile_installs_the_interpreted_engine(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SCS_NO_COMPILE", "1")
    build_data, _ = _build(project, "editable")
    assert build_data == UNTOUCHED
    assert _natives(project) == []  # the old build is gone: it would run instead of the source
    said = capsys.readouterr().err
    assert "SCS_NO_COMPILE=1: the scoring engine is installed interpreted" in said


@pytest.mark.slow
def test_without_a_c_compiler_the_install_goes_on_interpreted(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SCS_NO_COMPILE", raising=False)
    monkeypatch.setenv("CC", "/bin/false")  # a compiler that always fails
    build_data, hook = _build(project, "editable")
    assert build_data == UNTOUCHED
    assert _natives(project) == []
    assert "could not compile the scoring engine" in capsys.readouterr().err
    assert hook.scratch is not None and not hook.scratch.exists()  # the scratch copy is gone


def test_a_standard_build_leaves_the_checkout_alone(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wheel takes its compiled engine from the scratch build, never from ``src/`` (where
    ``.gitignore`` keeps an editable install's out of the wheel), so it does not delete it."""
    monkeypatch.setenv("SCS_NO_COMPILE", "1")
    _build(project, "standard")
    assert [path.name for path in _natives(project)] == [f"_native_evaluation{SUFFIX}"]
