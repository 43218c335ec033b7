"""Build hook: compiles the routing engine, the simulator's driver and the SIP stack to C with
mypyc.

The engine (`helpline.core`) runs every call of every tenant, `helpline simulate` runs it for
hundreds of thousands of simulated callers (issue 3), and the SIP stack parses and answers
every message of every SIP call (issue 7); compiled, the simulator runs about three times as
fast and a SIP call costs 15-20% less CPU, from the same typed source (mypy strict already
checks it). Black and mypy ship the same
way. The pure-Python source stays the truth: `helpline.compiled` checks at import that the
compiled modules were built from the sources beside them, and runs the sources if not.

HELPLINE_COMPILE chooses:
  auto (default)  compile; if that fails (no C compiler, no Python headers), say so and
                  install pure Python
  require         compile, or fail the install (CI uses this)
  no              pure Python

An editable install (`pip install -e .`) builds the extension modules into `src/`, beside the
sources, where the editable path finds them; a wheel carries them instead.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE_ROOT = "src"
COMPILED_GLOBS = (
    "helpline/core/*.py",  # the routing engine
    "helpline/sim/runner.py",  # the simulator's event loop and its statistics
    "helpline/sim/stats.py",
    "helpline/sip/*.py",  # the sans-I/O SIP stack: parser, serializer, transactions, dialogs
    "helpline/sip/sdp/*.py",  # session descriptions: every call's offer and answer
)
# Error classes stay interpreted: nothing hot raises them, and code outside the build subclasses
# them and reads their class-level `code` (a compiled class would make it a per-instance field);
# so does sip/auth.py's digest parse error, and digest checks are per REGISTER, not per packet
NOT_COMPILED = frozenset({"__init__.py", "errors.py", "auth.py"})
GROUP = "helpline"  # the shared library mypyc builds for the group: `helpline__mypyc`
MANIFEST = "helpline/_compiled.json"  # read by src/helpline/compiled.py

# Run in a subprocess with a clean working directory: setuptools would otherwise read this
# project's pyproject.toml, which hatchling, not setuptools, builds.
_COMPILE_SCRIPT = """
import sys
from mypyc.build import mypycify
from setuptools import setup

build_lib, build_temp, *args = sys.argv[1:]
setup(
    name="helpline-compiled",
    ext_modules=mypycify(args, opt_level="3", group_name="{group}"),
    script_args=["build_ext", "--build-lib", build_lib, "--build-temp", build_temp],
)
"""

# Only the compiled modules must type-check here (CI runs mypy strict on everything); the
# modules they import may use packages the isolated build environment lacks (pydantic).
_MYPY_ARGS = ("--follow-imports=silent", "--ignore-missing-imports")


class MypycBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"
    _work: Path | None = None  # the build's temporary directory, until finalize

    def _sources(self) -> list[Path]:
        root = Path(self.root, SOURCE_ROOT)
        found: set[Path] = set()
        for pattern in COMPILED_GLOBS:
            found.update(path for path in root.glob(pattern) if path.name not in NOT_COMPILED)
        return sorted(found)

    def _in_tree_artifacts(self) -> list[Path]:
        """What an editable build left in `src/`: any compiled module, even of a source no
        longer compiled, the group's shared library, the manifest."""
        root = Path(self.root, SOURCE_ROOT)
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        found = list(root.glob(f"helpline/**/*{suffix}"))
        found += [root / f"{GROUP}__mypyc{suffix}", root / MANIFEST]
        return [path for path in found if path.exists()]

    def clean(self, versions: list[str]) -> None:
        for path in self._in_tree_artifacts():
            path.unlink()

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        self.clean([version])  # never leave an older build's modules beside new sources
        mode = os.environ.get("HELPLINE_COMPILE", "auto").strip().lower()
        if mode in {"no", "0", "false", "off"}:
            return
        try:
            self._compile(version, build_data)
        except Exception as error:
            self.clean([version])  # nothing half-copied into src/
            self._remove_work()
            if mode in {"require", "1", "yes", "true", "on"}:
                raise
            self.app.display_warning(
                f"helpline: the engine was not compiled ({error}); installing pure Python, "
                "which runs the simulator about a third as fast. Install gcc and the Python "
                "headers (Debian: build-essential python3-dev), or set HELPLINE_COMPILE=no "
                "to silence this."
            )

    def _compile(self, version: str, build_data: dict[str, Any]) -> None:
        sources = self._sources()
        # hashed before compiling: a source saved during the build must not match the manifest
        manifest_document = _manifest(Path(self.root, SOURCE_ROOT), sources)
        work = self._work = Path(tempfile.mkdtemp(prefix="helpline-mypyc-"))
        build_lib, build_temp = work / "lib", work / "temp"
        script = work / "compile.py"
        script.write_text(_COMPILE_SCRIPT.format(group=GROUP), encoding="utf-8")
        command = [sys.executable, str(script), str(build_lib), str(build_temp)]
        command += [*_MYPY_ARGS, *(str(path) for path in sources)]
        self.app.display_info(f"helpline: compiling {len(sources)} engine modules with mypyc")
        done = subprocess.run(
            command, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False
        )
        if done.returncode != 0:
            tail = done.stdout.decode(errors="replace")[-4000:]
            raise RuntimeError(f"mypyc failed:\n{tail}")
        manifest = build_lib / MANIFEST
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(json.dumps(manifest_document))
        # the manifest last: until it is there, helpline.compiled runs the sources
        built = sorted(
            (path for path in build_lib.rglob("*") if path.is_file()), key=lambda p: p == manifest
        )
        if version == "editable":
            # the editable wheel puts `src/` on the path: the modules go beside the sources
            for path in built:
                target = Path(self.root, SOURCE_ROOT, path.relative_to(build_lib))
                shutil.copy2(path, target)
        else:
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
            for path in built:
                build_data["force_include"][str(path)] = str(path.relative_to(build_lib))

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        self._remove_work()

    def _remove_work(self) -> None:
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None


def _manifest(source_root: Path, sources: list[Path]) -> dict[str, Any]:
    modules = {}
    for path in sources:
        name = ".".join(path.relative_to(source_root).with_suffix("").parts)
        modules[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    compiler = f"mypyc {importlib.metadata.version('mypy')}"
    return {"compiler": compiler, "group": f"{GROUP}__mypyc", "modules": modules}
