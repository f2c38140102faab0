"""The enrichment hot path, compiled to C with mypyc when a current build exists.

``cwh enrich`` runs every record through the same few modules: the log parser, its time
parsing, the enricher, the provenance checks, the reloading tables and the line transform
that decodes, enriches and encodes each line. They are ordinary, strictly typed Python;
mypyc compiles that same source to a C extension that runs it faster (``bench/enrich.py``
measures both); the compiled build must give what the interpreted source gives.

One step is also written in C (:data:`NATIVE_MODULES`): the parser's shortcut for
lc_wrapper's own layout, which scans text and builds strings, the work compiled Python does
slowest. It only answers what the Python shortcut answers, or declines, and
``tests/test_logrecord_shortcut.py`` holds it to that on every text the shortcut is tested on.

``cwh compile`` writes the build to ``cwh/enrich/_compiled/`` (never committed) with a manifest: a
digest of every module of ``cwh`` (Python and C) and of the interpreter it was built for.
On import, :func:`use_current_build` puts that directory in front of the package's search
path only while the digest still matches, so an edited module is never shadowed by a stale
build; until the next ``cwh compile`` the interpreted source runs. ``CWH_INTERPRETED=1``
forces the interpreted source (the comparison runs of the bench and the tests use it).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

# Every ``import cwh.enrich`` runs this module: the modules only building needs are imported there.

HOT_MODULES: tuple[str, ...] = (
    "logrecord",
    "logshortcut",
    "logtime",
    "provenance",
    "reloading",
    "result_files",
    "enricher",
    "lines",
)
NATIVE_MODULES: tuple[str, ...] = ("_logscan",)
"""Modules written in C (``cwh/enrich/<name>.c``), built with the compiled modules: each one does
what a Python function does, and tests hold them to that function's results."""
BUILD_DIR = "_compiled"
MANIFEST = "manifest.json"
INTERPRETED_ENV = "CWH_INTERPRETED"
# mypyc's shared runtime library for the group, importable as a module of the package.
_GROUP_MODULE = "hotpath"
PACKAGE_DIR = Path(__file__).resolve().parent

_BUILD_SCRIPT = """
import sys
from mypyc.build import mypycify
from setuptools import Extension, setup

lib, temp, group, native, *sources = sys.argv[1:]
extensions = [
    Extension(path[:-2].replace("/", "."), [path], extra_compile_args=["-O2"])
    for path in native.split(",") if path
]
setup(
    name="cwh-hot-path",
    packages=[],
    py_modules=[],
    script_name="setup.py",
    script_args=["build_ext", "--build-lib", lib, "--build-temp", temp],
    ext_modules=mypycify(sources, opt_level="3", group_name=group, target_dir=temp) + extensions,
)
"""


class CompileError(RuntimeError):
    """The hot path could not be compiled; the interpreted source keeps running."""


class HotPathState:
    """Whether this process runs the compiled build, and why not when it does not."""

    __slots__ = ("compiled", "reason")

    def __init__(self, compiled: bool, reason: str) -> None:
        self.compiled = compiled
        self.reason = reason

    def __repr__(self) -> str:
        return f"HotPathState({self.compiled!r}, {self.reason!r})"

    def describe(self) -> str:
        return "compiled (mypyc)" if self.compiled else f"interpreted ({self.reason})"


_state = HotPathState(False, "not checked")


def _source_root(package_dir: Path) -> Path:
    """The directory that holds the top-level package ``package_dir`` belongs to."""
    root = package_dir
    while (root.parent / "__init__.py").exists():
        root = root.parent
    return root.parent


def _dotted_name(package_dir: Path) -> str:
    """``cwh.enrich`` for ``.../cwh/enrich``: the package's import name."""
    return ".".join(package_dir.relative_to(_source_root(package_dir)).parts)


def source_digest(package_dir: Path = PACKAGE_DIR) -> str:
    """Digest of every module of the top-level package and of this interpreter's extension ABI.

    Every module counts, not just the compiled ones: compiled code relies on the declared
    types of what it imports, so a change anywhere in the domain retires the build.
    """
    root = _source_root(package_dir)
    top = root / package_dir.relative_to(root).parts[0]
    digest = hashlib.sha256()
    digest.update(f"{sys.version}\0{_extension_suffix()}\0".encode())
    sources = [*top.rglob("*.py"), *top.rglob("*.c")]
    for path in sorted(p for p in sources if BUILD_DIR not in p.relative_to(top).parts):
        name = path.relative_to(top).as_posix()
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_state(package_dir: Path = PACKAGE_DIR) -> HotPathState:
    """Whether the build in ``package_dir`` exists, is current and may be used."""
    if os.environ.get(INTERPRETED_ENV, "") not in ("", "0"):
        return HotPathState(False, f"{INTERPRETED_ENV} is set")
    manifest = package_dir / BUILD_DIR / MANIFEST
    try:
        text = manifest.read_text(encoding="utf-8")
    except FileNotFoundError:
        return HotPathState(False, "no build; run `cwh compile`")
    except OSError as exc:
        return HotPathState(False, f"unreadable build manifest {manifest}: {exc}")
    import json

    try:
        recorded = json.loads(text)
    except ValueError as exc:
        return HotPathState(False, f"unreadable build manifest {manifest}: {exc}")
    if not isinstance(recorded, dict) or recorded.get("digest") != source_digest(package_dir):
        return HotPathState(False, "the build is older than the source; run `cwh compile`")
    return HotPathState(True, "")


def use_current_build(search_path: list[str], package_dir: Path = PACKAGE_DIR) -> HotPathState:
    """Put the compiled build in front of the package's ``search_path`` when it is current."""
    global _state
    _state = build_state(package_dir)
    build = str(package_dir / BUILD_DIR)
    if _state.compiled and build not in search_path:
        search_path.insert(0, build)
    return _state


def hot_path_state() -> HotPathState:
    """What this process runs; whether it is compiled also shows in the modules' files."""
    package = __name__.rsplit(".", 1)[0]
    compiled = all(
        Path(getattr(sys.modules.get(f"{package}.{name}"), "__file__", "") or "").suffix != ".py"
        for name in HOT_MODULES
        if f"{package}.{name}" in sys.modules
    )
    if _state.compiled and not compiled:
        return HotPathState(False, "the modules were imported before the build was current")
    return _state


def _compiler() -> str:
    import shutil
    import sysconfig

    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    found = shutil.which(compiler)
    if found is None:
        raise CompileError(f"no C compiler: {compiler!r} is not on PATH (install gcc)")
    return found


def _check_build_tools() -> None:
    for module in ("mypyc", "setuptools"):
        try:
            __import__(module)
        except ImportError as exc:
            raise CompileError(
                f"{module} is missing ({exc}); it comes with the dev dependencies (`uv sync`)"
            ) from exc
    _compiler()


def compile_hot_path(package_dir: Path = PACKAGE_DIR) -> Path:
    """Compile :data:`HOT_MODULES` and swap the build into ``package_dir``.

    The digest is taken before compiling: if the source changes meanwhile, the new build is
    already stale and is not used. A failed compile leaves the previous build as it was;
    concurrent compiles of one package wait for each other.
    """
    import fcntl
    import tempfile

    _check_build_tools()
    with (
        open(package_dir / f"{BUILD_DIR}.lock", "w") as lock,
        tempfile.TemporaryDirectory(prefix="cwh-compile-") as work,
    ):
        fcntl.flock(lock, fcntl.LOCK_EX)
        digest = source_digest(package_dir)
        staging = _stage(package_dir, Path(work), digest)
        return _swap_in(package_dir, staging)


def _stage(package_dir: Path, work: Path, digest: str) -> Path:
    """Run mypyc and copy its extension modules, with the manifest, into a staging dir."""
    import json
    import shutil
    import subprocess

    lib, temp = work / "lib", work / "temp"
    root = _source_root(package_dir)
    relative = package_dir.relative_to(root).as_posix()
    group = f"{_dotted_name(package_dir)}.{_GROUP_MODULE}"
    sources = [f"{relative}/{name}.py" for name in HOT_MODULES]
    native = ",".join(f"{relative}/{name}.c" for name in NATIVE_MODULES)
    done = subprocess.run(
        [sys.executable, "-c", _BUILD_SCRIPT, str(lib), str(temp), group, native, *sources],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        raise CompileError(
            f"the build failed (mypyc or the C compiler, exit {done.returncode}):\n{tail}"
        )
    built = sorted((lib / relative).glob("*" + _extension_suffix()))
    expected = {*HOT_MODULES, *NATIVE_MODULES, _GROUP_MODULE + "__mypyc"}
    if {path.name.split(".", 1)[0] for path in built} != expected:
        raise CompileError(f"the build made {[p.name for p in built]}, expected {expected}")
    staging = work / BUILD_DIR
    staging.mkdir()
    for path in built:
        shutil.copy2(path, staging / path.name)
    (staging / MANIFEST).write_text(
        json.dumps(
            {
                "digest": digest,
                "modules": [*HOT_MODULES, *NATIVE_MODULES],
                "python": sys.version,
            }
        ),
        encoding="utf-8",
    )
    return staging


def _swap_in(package_dir: Path, staging: Path) -> Path:
    """Replace the build by ``staging``; a process that loaded the old one keeps its copy."""
    import shutil

    target = package_dir / BUILD_DIR
    incoming = package_dir / f"{BUILD_DIR}.incoming"
    retired = package_dir / f"{BUILD_DIR}.retired"
    for leftover in (incoming, retired):
        shutil.rmtree(leftover, ignore_errors=True)
    # Copied next to the target first: the temporary directory may be on another file system.
    shutil.copytree(staging, incoming)
    if target.exists():
        target.rename(retired)
    incoming.rename(target)
    shutil.rmtree(retired, ignore_errors=True)
    return target


def _extension_suffix() -> str:
    """This interpreter's suffix for extension modules (``.cpython-311-x86_64-linux-gnu.so``)."""
    from importlib.machinery import EXTENSION_SUFFIXES

    return EXTENSION_SUFFIXES[0]
