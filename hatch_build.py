"""Build hook: compile the scoring engine's steps with mypyc when this machine can.

``src/socialcredit/evaluation.py`` is plain, typed Python and stays the source of truth. At
install (``pip install .`` or ``pip install -e .``) this hook compiles a copy of it with mypyc
as ``socialcredit._native_evaluation``, stamped with the SHA-256 of the source it was built
from. ``socialcredit.native`` uses the compiled copy only while that stamp matches the
``evaluation.py`` beside it, so an edited source is never shadowed by a stale build: it runs
interpreted until the next install. Why: scoring a subject is the registry's hottest pure
code (every fresh check, every notice, the bulk engine's exact path), and the compiled copy
runs it about 1.5 times as fast without a second implementation to keep in step.

The same hook compiles the bulk engine's one-pass kernel (``bulk/_kernel.c``, plain C over
Arrow's buffers, loaded with ctypes) into ``socialcredit/bulk/_bulk_kernel.so``, stamped the
same way: ``bulk.kernel`` uses it only while the stamp matches the C source beside it, and
scores with the SQL pipeline otherwise.

Compiling needs a C compiler. Without one, or with ``SCS_NO_COMPILE=1``, the hook says why
on stderr and the install goes on, pure Python: everything works, only slower (PyYAML's
extension does the same). The PyPI packages it needs (mypy, setuptools) are the hook's
pinned build dependencies (``pyproject.toml``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PACKAGE = "socialcredit"
SOURCE = "evaluation.py"  # compiled...
NATIVE = "_native_evaluation"  # ...under this name, beside it
KERNEL_SOURCE = "bulk/_kernel.c"  # the bulk kernel, compiled...
KERNEL = "bulk/_bulk_kernel"  # ...to this shared library (plus the platform's suffix)
#: mypy settings for the compile: the rest of the package is read for its types only, and
#: third-party packages the build environment lacks are taken as untyped.
MYPY_INI = "[mypy]\nignore_missing_imports = True\nfollow_imports = silent\n"


class CompiledEngine(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"
    scratch: Path | None = None

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        package = Path(self.root) / "src" / PACKAGE
        if version == "editable":
            _remove_native(package)  # never let an old build outlive this one
        if os.environ.get("SCS_NO_COMPILE") == "1":
            _say("SCS_NO_COMPILE=1: the scoring engine is installed interpreted")
            return
        self.scratch = Path(tempfile.mkdtemp(prefix="scs-mypyc-"))
        built: list[tuple[Path, str]] = []  # (file made, its place in the package)
        try:
            built += [(path, path.name) for path in _compile(package, self.scratch)]
            _say(f"compiled the scoring engine: {', '.join(place for _, place in built)}")
        except (OSError, subprocess.CalledProcessError) as error:
            _say(f"could not compile the scoring engine ({error}); installed interpreted")
        try:
            kernel = _compile_kernel(package, self.scratch)
            built.append((kernel, f"{Path(KERNEL).parent}/{kernel.name}"))
            _say(f"compiled the bulk kernel: {kernel.name}")
        except (OSError, subprocess.CalledProcessError) as error:
            _say(f"could not compile the bulk kernel ({error}); bulk scoring runs in SQL")
        if not built:
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if version == "editable":  # the package is imported from src/: the build goes there
            for path, place in built:
                shutil.copy2(path, package / place)
        else:
            for path, place in built:
                build_data["force_include"][str(path)] = f"{PACKAGE}/{place}"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


def _compile(package: Path, scratch: Path) -> list[Path]:
    """Compile ``evaluation.py`` as ``_native_evaluation`` in a copy of the package in
    ``scratch``; return the extension files made."""
    source = (package / SOURCE).read_bytes()
    digest = hashlib.sha256(source).hexdigest()
    tree = scratch / PACKAGE
    shutil.copytree(package, tree, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    stamp = f'\n#: The SHA-256 of the source compiled (hatch_build.py).\nBUILT_FROM = "{digest}"\n'
    stamped = source.decode() + stamp
    (tree / f"{NATIVE}.py").write_text(stamped)
    (scratch / "mypy.ini").write_text(MYPY_INI)
    subprocess.run(
        [sys.executable, "-m", "mypyc", "--config-file", "mypy.ini", f"{PACKAGE}/{NATIVE}.py"],
        cwd=scratch,
        check=True,
        stdout=sys.stderr,  # pip shows a build's output only with -v, or when it fails
    )
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    built = sorted(tree.glob(f"{NATIVE}*{suffix}"))
    if not any(path.name == f"{NATIVE}{suffix}" for path in built):
        raise OSError(f"mypyc made no {NATIVE}{suffix}")
    return built


def _compile_kernel(package: Path, scratch: Path) -> Path:
    """Compile ``bulk/_kernel.c`` into a shared library in ``scratch``, stamped with the
    SHA-256 of its source; return the file made."""
    source = package / KERNEL_SOURCE
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    compiler = os.environ.get("CC") or (sysconfig.get_config_var("CC") or "cc").split()[0]
    suffix = sysconfig.get_config_var("SHLIB_SUFFIX") or ".so"
    target = scratch / f"{Path(KERNEL).name}{suffix}"
    subprocess.run(
        [compiler, "-O3", "-shared", "-fPIC", f'-DSCS_BUILT_FROM="{digest}"', "-o", str(target),
         str(source), "-lm"],
        check=True,
        stdout=sys.stderr,
    )  # fmt: skip
    return target


def _remove_native(package: Path) -> None:
    """Remove an editable install's compiled engine and kernel (a standard wheel never takes
    them: they are in ``.gitignore``, which hatchling's file selection follows)."""
    for path in [*package.glob(f"{NATIVE}*"), *package.glob(f"{KERNEL}*")]:
        if path.suffix != ".c":
            path.unlink()


def _say(message: str) -> None:
    print(f"socialcredit build: {message}", file=sys.stderr)
