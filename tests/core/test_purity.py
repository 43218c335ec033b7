"""The engine is pure (issue 2): no asyncio, no I/O, no wall clock, no global random in `core/`,
and nothing of the project outside `helpline.core`.

Every module under `src/helpline/core` is parsed with `ast` (never imported) and checked; a
failure names the module and the line. The checker itself is tested on bad snippets, so the
module checks cannot pass by checking nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "src" / "helpline" / "core"

# I/O, concurrency, clocks, processes, networking: none of them belongs in the engine.
FORBIDDEN_MODULES = frozenset(
    {
        "asyncio",
        "concurrent",
        "ftplib",
        "http",
        "httpx",
        "importlib",
        "io",
        "multiprocessing",
        "os",
        "pathlib",
        "requests",
        "select",
        "selectors",
        "shutil",
        "signal",
        "smtplib",
        "socket",
        "sqlite3",
        "ssl",
        "subprocess",
        "sys",
        "tempfile",
        "threading",
        "time",
        "urllib",
    }
)
FORBIDDEN_CALLS = frozenset({"open", "print", "input", "__import__", "exec", "eval"})
CLOCK_READS = frozenset({"now", "utcnow", "today"})  # datetime.now(), date.today(), ...
CLOCK_TYPES = frozenset({"datetime", "date"})


def _dotted(node: ast.expr) -> str | None:
    """`a.b.c` for a chain of names and attributes, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _top(module: str) -> str:
    return module.split(".", maxsplit=1)[0]


def check_source(source: str, name: str, package: str = "helpline.core") -> list[str]:
    """Every purity violation in one module, as `name:line: what`."""
    tree = ast.parse(source, filename=name)
    problems: list[str] = []
    random_aliases: set[str] = set()  # local names bound to the `random` module

    def bad(node: ast.AST, what: str) -> None:
        problems.append(f"{name}:{getattr(node, 'lineno', 0)}: {what}")

    def check_project_import(node: ast.AST, module: str) -> None:
        if _top(module) == "helpline" and not (
            module == package or module.startswith(package + ".")
        ):
            bad(node, f"imports {module}, outside {package}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = _top(alias.name)
                if top in FORBIDDEN_MODULES:
                    bad(node, f"imports {alias.name}")
                if alias.name == "random":
                    random_aliases.add(alias.asname or "random")
                elif top == "random":
                    bad(node, f"imports {alias.name}")
                check_project_import(node, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # relative: level 1 stays in the package, each further level climbs out of it
                parts = package.split(".")
                if node.level > 1:
                    parent = ".".join(parts[: len(parts) - node.level + 1])
                    target = f"{parent}.{node.module}" if node.module else parent
                    bad(node, f"imports {target or '..'}, outside {package}")
                continue
            module = node.module or ""
            top = _top(module)
            if top in FORBIDDEN_MODULES:
                bad(node, f"imports from {module}")
            if top == "random":
                for alias in node.names:
                    if alias.name != "Random":
                        bad(node, f"imports random.{alias.name} (the global generator)")
            if module in ("datetime", "time"):
                for alias in node.names:
                    if alias.name in CLOCK_READS | {"time", "monotonic", "perf_counter"}:
                        bad(node, f"imports {module}.{alias.name} (a clock)")
            check_project_import(node, module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in FORBIDDEN_CALLS
        ):
            bad(node, f"calls {node.func.id}()")

    # a second pass: how the names are used once every import is known
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            base = _dotted(node.value)
            if base in random_aliases and node.attr != "Random":
                bad(node, f"uses random.{node.attr} (the global generator)")
            if node.attr in CLOCK_READS and base is not None and base.split(".")[-1] in CLOCK_TYPES:
                bad(node, f"reads the clock: {base}.{node.attr}")
        elif isinstance(node, ast.Call):
            func = _dotted(node.func)
            if (
                func is not None
                and func.split(".")[0] in random_aliases
                and func.endswith(".Random")
            ):
                bad(node, "makes its own random.Random (take the injected one)")
    return sorted(set(problems), key=lambda p: int(p.split(":")[1]))


MODULES = sorted(CORE.rglob("*.py"))


def test_core_has_modules() -> None:
    names = {path.name for path in MODULES}
    assert {"engine.py", "events.py", "commands.py", "model.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_is_pure(path: Path) -> None:
    name = f"src/helpline/core/{path.relative_to(CORE)}"
    problems = check_source(path.read_text(encoding="utf-8"), name)
    assert not problems, "impure engine module:\n" + "\n".join(problems)


# -- the checker catches what it must ------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import asyncio", "imports asyncio"),
        ("import os.path", "imports os.path"),
        ("from socket import socket", "imports from socket"),
        ("import time\nx = time.time()", "imports time"),
        ("from time import monotonic", "imports from time"),
        ("import threading", "imports threading"),
        ("import subprocess", "imports subprocess"),
        ("from urllib.request import urlopen", "imports from urllib.request"),
        ("import http.client", "imports http.client"),
        ("import sqlite3", "imports sqlite3"),
        ("from pathlib import Path", "imports from pathlib"),
        ("import io", "imports io"),
        ("def f():\n    import asyncio", "imports asyncio"),
        ("data = open('x').read()", "calls open()"),
        ("print('hi')", "calls print()"),
        ("import random\nx = random.random()", "uses random.random"),
        ("import random\nx = random.choice([1])", "uses random.choice"),
        ("import random as r\nr.seed(1)", "uses random.seed"),
        ("from random import choice", "imports random.choice"),
        ("import random\nrng = random.Random()", "makes its own random.Random"),
        ("from datetime import datetime\nx = datetime.now()", "reads the clock: datetime.now"),
        ("import datetime\nx = datetime.datetime.utcnow()", "datetime.datetime.utcnow"),
        ("from datetime import date\nx = date.today()", "reads the clock: date.today"),
        ("from datetime import datetime as d\nfrom datetime import now", "datetime.now"),
        ("from helpline.sim import runner", "imports helpline.sim, outside helpline.core"),
        ("import helpline.config", "imports helpline.config, outside helpline.core"),
        ("from .. import cli", "outside helpline.core"),
    ],
)
def test_the_checker_flags(source: str, found: str) -> None:
    problems = check_source(source, "mod.py")
    assert any(found in problem for problem in problems), problems
    assert all(problem.startswith("mod.py:") for problem in problems)


@pytest.mark.parametrize(
    "source",
    [
        "import random\n\ndef f(rng: random.Random) -> int:\n    return rng.randrange(3)",
        "from random import Random\n\ndef f(rng: Random) -> None: ...",
        "from datetime import UTC, datetime\nx = datetime.fromtimestamp(0, tz=UTC)",
        "class E:\n    now = 0.0\n\n    def f(self) -> float:\n        return self.now",
        "from helpline.core.model import Center\nfrom helpline.core import commands",
        "from . import model",
        "import heapq\nfrom dataclasses import dataclass",
    ],
    ids=["random_type", "Random_type", "fromtimestamp", "engine_now", "core", "relative", "stdlib"],
)
def test_the_checker_allows(source: str) -> None:
    assert check_source(source, "mod.py") == []


def test_a_problem_names_the_module_and_line() -> None:
    source = "from __future__ import annotations\n\nimport heapq\nimport socket\n"
    assert check_source(source, "src/helpline/core/x.py") == [
        "src/helpline/core/x.py:4: imports socket"
    ]
