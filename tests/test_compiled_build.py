"""The compiled engine (hatch_build.py, helpline/compiled.py): a compiled module never runs
older code than its source, and compiling changes no result.

The guard is tested on a throwaway package whose "compiled module" is a file of garbage bytes:
imported, it raises, so a test that imports the module proves which file was taken.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import helpline
from helpline import compiled
from helpline.compiled import SourceFirst, check
from helpline.core import engine
from helpline.sim import runner

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
SIMULATION = """
import json, sys
from pathlib import Path
import helpline
from helpline.config import load_center
from helpline.sim.runner import Replication
from helpline.sim.simulate import parse_traffic

center = load_center(Path(sys.argv[1]))
traffic = parse_traffic({
    "seed": 3, "calls": 3000, "staffing": {"group2": 5},
    "streams": [{"to": "support", "arrivals": {"poisson_per_hour": 500},
                 "handle_time": {"exponential_mean": "40s"},
                 "patience": {"exponential_mean": "60s"}}],
})
collector = Replication(center, traffic, seed=3, base=Path(".")).run()
stats = collector.queue("support")
print(json.dumps([helpline.BUILD.compiled, stats.offered, stats.answered, stats.abandoned,
                  stats.other, stats.waited, stats.wait_all_sum, stats.max_wait,
                  stats.talk_sum]))
"""


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`hl_fake` with `engine.py` and a broken compiled `engine` beside it, importable."""
    package = tmp_path / "hl_fake"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "engine.py").write_text("BUILT_FROM = 'source'\n")
    (package / f"engine{SUFFIX}").write_bytes(b"not a shared object")
    monkeypatch.delenv("HELPLINE_PURE_PYTHON", raising=False)  # a whole run may set it
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))  # undo any finder installed
    for name in ("hl_fake", "hl_fake.engine"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return package


def _manifest(package: Path, source: bytes) -> Path:
    path = package / "_compiled.json"
    digest = hashlib.sha256(source).hexdigest()
    path.write_text(json.dumps({"compiler": "mypyc test", "modules": {"hl_fake.engine": digest}}))
    return path


def test_the_fixture_would_import_the_compiled_module(fake_package: Path) -> None:
    with pytest.raises(ImportError):
        importlib.import_module("hl_fake.engine")


def test_no_manifest_and_no_compiled_module_is_pure_python(fake_package: Path) -> None:
    (fake_package / f"engine{SUFFIX}").unlink()
    finders = list(sys.meta_path)
    build = check(fake_package.parent, fake_package / "_compiled.json", package="hl_fake")
    assert build == compiled.EngineBuild(False, "pure Python")
    assert sys.meta_path == finders


def test_compiled_modules_without_a_manifest_are_passed_over(fake_package: Path) -> None:
    # a build cut off between copying the modules and writing the manifest, or a manifest
    # deleted by hand: nothing says what the compiled modules were built from
    with pytest.warns(RuntimeWarning, match="compiled modules without _compiled.json"):
        build = check(fake_package.parent, fake_package / "_compiled.json", package="hl_fake")
    assert not build.compiled
    assert importlib.import_module("hl_fake.engine").BUILT_FROM == "source"


def test_a_build_that_matches_its_sources_runs_compiled(fake_package: Path) -> None:
    manifest = _manifest(fake_package, (fake_package / "engine.py").read_bytes())
    finders = list(sys.meta_path)
    build = check(fake_package.parent, manifest, package="hl_fake")
    assert build.compiled
    assert "mypyc test" in build.description
    assert sys.meta_path == finders


def test_a_changed_source_is_imported_from_the_source(fake_package: Path) -> None:
    manifest = _manifest(fake_package, b"BUILT_FROM = 'an older source'\n")
    with pytest.warns(RuntimeWarning, match=r"hl_fake\.engine.*rebuild with pip install -e \."):
        build = check(fake_package.parent, manifest, package="hl_fake")
    assert not build.compiled
    assert isinstance(sys.meta_path[0], SourceFirst)
    assert importlib.import_module("hl_fake.engine").BUILT_FROM == "source"


def test_a_compiled_module_the_build_does_not_list_is_passed_over(fake_package: Path) -> None:
    (fake_package / "other.py").write_text("BUILT_FROM = 'source'\n")
    (fake_package / f"other{SUFFIX}").write_bytes(b"left by an older build")
    manifest = _manifest(fake_package, (fake_package / "engine.py").read_bytes())
    with pytest.warns(RuntimeWarning, match=r"hl_fake\.other"):
        assert not check(fake_package.parent, manifest, package="hl_fake").compiled
    assert importlib.import_module("hl_fake.other").BUILT_FROM == "source"
    assert importlib.import_module("hl_fake.engine").BUILT_FROM == "source"  # no mix


def test_an_unreadable_manifest_falls_back_to_the_sources(fake_package: Path) -> None:
    manifest = fake_package / "_compiled.json"
    manifest.write_text("{not json")
    with pytest.warns(RuntimeWarning, match="unreadable _compiled.json"):
        assert not check(fake_package.parent, manifest, package="hl_fake").compiled
    assert importlib.import_module("hl_fake.engine").BUILT_FROM == "source"


def test_pure_python_on_request(fake_package: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = _manifest(fake_package, (fake_package / "engine.py").read_bytes())
    monkeypatch.setenv("HELPLINE_PURE_PYTHON", "1")
    build = check(fake_package.parent, manifest, package="hl_fake")
    assert build == compiled.EngineBuild(False, "pure Python (HELPLINE_PURE_PYTHON is set)")
    assert importlib.import_module("hl_fake.engine").BUILT_FROM == "source"


def test_the_engine_that_runs_is_the_build_reported() -> None:
    for module in (engine, runner):
        assert str(module.__file__).endswith(SUFFIX if helpline.BUILD.compiled else ".py")
    if os.environ.get("HELPLINE_COMPILE") == "require":  # .ci/run: the install must compile
        assert helpline.BUILD.compiled, helpline.BUILD.description


def test_compiled_and_pure_python_simulate_the_same_callers() -> None:
    """The same seed gives the same callers, waits and outcomes either way (to the bit)."""
    center = Path(__file__).parents[1] / "examples" / "center.yaml"
    runs = []
    for pure in ("0", "1"):
        done = subprocess.run(
            [sys.executable, "-c", SIMULATION, str(center)],
            env={**os.environ, "HELPLINE_PURE_PYTHON": pure},
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(done.stdout))
    (compiled_run, *figures), (pure_run, *pure_figures) = runs
    assert not pure_run
    assert compiled_run or not helpline.BUILD.compiled
    assert figures == pure_figures
    offered, answered, abandoned, other, waited, *_ = figures
    assert offered == 3000 and answered + abandoned + other == offered
    assert answered > 0 and abandoned > 0 and waited > 0
