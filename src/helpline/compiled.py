"""Which build of the engine runs: compiled by mypyc at install (`hatch_build.py`), or pure
Python, and a guard that never lets a compiled module run older code than its source.

An install compiles `helpline.core`, the simulator's driver and the SIP stack and writes
`_compiled.json` beside this file: the SHA-256 of each source it compiled. In an editable
install the compiled modules sit beside the sources, and Python's import system would take
them over the `.py` even after the source changed (an edit, a `git checkout`). So on the
first import of `helpline`, before any engine module is imported, the sources are hashed
against the manifest; if one differs, or a compiled module is missing, every module of the
build is imported from its source instead (they call each other natively: a mix would not
work), with a warning that says how to rebuild.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

SOURCE_ROOT = Path(__file__).parent.parent  # `src/`, or site-packages
MANIFEST = Path(__file__).with_name("_compiled.json")
REBUILD = "pip install -e . (or pip install . for a regular install)"


@dataclass(frozen=True, slots=True)
class EngineBuild:
    compiled: bool
    description: str  # for `helpline --version` and the benches


def _source_of(root: Path, module: str) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def _compiled_of(root: Path, module: str) -> Path:
    source = _source_of(root, module)
    return source.with_name(source.stem + importlib.machinery.EXTENSION_SUFFIXES[0])


class SourceFirst(importlib.abc.MetaPathFinder):
    """Imports the named modules from their `.py` files, passing over compiled ones."""

    def __init__(self, root: Path, modules: frozenset[str]) -> None:
        self.root = root
        self.modules = modules

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.modules:
            return None
        return importlib.util.spec_from_file_location(fullname, _source_of(self.root, fullname))


def check(
    root: Path = SOURCE_ROOT, manifest: Path = MANIFEST, *, package: str = "helpline"
) -> EngineBuild:
    """Decide which build runs. If the compiled build does not match the sources, put a
    `SourceFirst` finder at the front of `sys.meta_path` and warn. HELPLINE_PURE_PYTHON=1
    asks for the sources on purpose (a debugger, a profiler that traces Python lines)."""
    if os.environ.get("HELPLINE_PURE_PYTHON", "") not in {"", "0"}:
        _prefer_sources(root, _compiled_in(root, package))
        return EngineBuild(False, "pure Python (HELPLINE_PURE_PYTHON is set)")
    try:
        document = json.loads(manifest.read_text(encoding="utf-8"))
        modules: dict[str, str] = document["modules"]
        compiler = str(document["compiler"])
    except FileNotFoundError:
        strays = _compiled_in(root, package)  # a build cut off before its manifest, say
        if strays:
            return _fall_back(root, strays, f"compiled modules without {manifest.name}")
        return EngineBuild(False, "pure Python")
    except (OSError, ValueError, KeyError, TypeError) as error:
        why = f"unreadable {manifest.name} ({error})"
        return _fall_back(root, _compiled_in(root, package), why)
    changed = []
    for module, digest in modules.items():
        try:
            current = hashlib.sha256(_source_of(root, module).read_bytes()).hexdigest()
        except OSError:
            current = ""
        if current != digest or not _compiled_of(root, module).exists():
            changed.append(module)
    strays = _compiled_in(root, package) - modules.keys()  # left by an older build
    changed.extend(strays)
    if changed:
        names = ", ".join(sorted(changed)[:3]) + (", ..." if len(changed) > 3 else "")
        why = f"changed or missing since the build: {names}"
        return _fall_back(root, frozenset(modules) | strays, why)
    return EngineBuild(True, f"compiled ({compiler}, {len(modules)} modules)")


def _compiled_in(root: Path, package: str) -> frozenset[str]:
    """Every module of the package with both a source and a compiled file."""
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    return frozenset(
        ".".join(path.relative_to(root).parts)[: -len(suffix)]
        for path in (root / package).rglob(f"*{suffix}")
        if path.with_name(path.name[: -len(suffix)] + ".py").exists()
    )


def _prefer_sources(root: Path, modules: frozenset[str]) -> None:
    if modules:
        sys.meta_path.insert(0, SourceFirst(root, modules))


def _fall_back(root: Path, modules: frozenset[str], why: str) -> EngineBuild:
    _prefer_sources(root, modules)
    warnings.warn(
        f"helpline's compiled engine is not used: {why}. Running pure Python (about a third "
        f"of the simulator's speed); rebuild with {REBUILD}.",
        RuntimeWarning,
        stacklevel=2,
    )
    return EngineBuild(False, f"pure Python ({why})")


BUILD = check()
