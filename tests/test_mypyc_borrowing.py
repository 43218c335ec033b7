"""The compiled modules steer clear of a mypyc bug that frees a value still being read.

mypyc 2.3 and later (the build needs them: they make `Final` fields of native classes
read-only) read a `Final` field off a temporary without a reference of its own, keeping the
temporary alive to the end of the expression: `Spec(host=parse_uri(u).host, ...)`. When a
comprehension or generator comes later in the same expression, the comprehension's body ends
"the whole expression" early (mypyc's `enter_borrow_scope` resets the expression depth, and
the body's end flushes every pending keep-alive, the outer ones too), so the temporary is
freed at the loop's exit and the field read from it is used after it was freed. In
`sip/registrar.py` that crashed the process on an authenticated REGISTER (valgrind: the
`SipUri`'s host freed by `SipUri_dealloc` inside `register_request`, then read by the keyword
call's `CPyDict_Build`). Reproduced with mypy 2.3.0 to 2.4.1, not with 2.2.0.

So, in every module the build compiles (`hatch_build.py`'s globs), no expression reads an
attribute off anything but a name before a comprehension in the same expression: a local
holds the temporary instead. The check is by syntax, so it is stricter than the bug (a field
of a local's field is safe, and so is an unboxed `float`); the few places it names cost a
line each.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _build_constant(name: str) -> object:
    """A literal of hatch_build.py (the hook imports hatchling, which tests need not have)."""
    tree = ast.parse((ROOT / "hatch_build.py").read_text(encoding="utf-8"))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            value = node.value
            if isinstance(value, ast.Call) and ast.unparse(value.func) == "frozenset":
                return frozenset(ast.literal_eval(value.args[0]))  # frozenset({...})
            return ast.literal_eval(value)
    raise AssertionError(f"hatch_build.py has no {name}")


def compiled_sources() -> list[Path]:
    globs = _build_constant("COMPILED_GLOBS")
    skipped = _build_constant("NOT_COMPILED")
    assert isinstance(globs, tuple) and isinstance(skipped, frozenset)
    found = {path for pattern in globs for path in (ROOT / "src").glob(pattern)}
    return sorted(path for path in found if path.name not in skipped)


def _reads_off_a_temporary(node: ast.AST) -> list[ast.Attribute]:
    """`x.attr` where x is neither a name nor a literal, outside comprehensions and lambdas
    (each compiles as a scope of its own); `x.method(...)` is a call, and only its `x` counts."""
    found: list[ast.Attribute] = []

    def walk(child: ast.AST) -> None:
        if isinstance(child, (*_COMPREHENSIONS, ast.Lambda)):
            return
        if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute):
            walk(child.func.value)  # a method called at once: its result is a new reference
            for argument in (*child.args, *child.keywords):
                walk(argument)
            return
        if (
            isinstance(child, ast.Attribute)
            and isinstance(child.ctx, ast.Load)
            and not isinstance(child.value, (ast.Name, ast.Constant))
        ):
            found.append(child)
        for grandchild in ast.iter_child_nodes(child):
            walk(grandchild)

    walk(node)
    return found


def _first_comprehension(node: ast.AST) -> tuple[int, int] | None:
    starts = [(n.lineno, n.col_offset) for n in ast.walk(node) if isinstance(n, _COMPREHENSIONS)]
    return min(starts, default=None)


def risky_expressions(source: str, filename: str = "<source>") -> list[str]:
    """Each statement's own expressions (not its nested statements') that read an attribute
    off a temporary before a comprehension: `file:line: the read`."""
    found = []
    for statement in ast.walk(ast.parse(source, filename)):
        if not isinstance(statement, ast.stmt):
            continue
        for _, value in ast.iter_fields(statement):
            for expression in value if isinstance(value, list) else [value]:
                if not isinstance(expression, ast.expr):
                    continue
                comprehension = _first_comprehension(expression)
                if comprehension is None:
                    continue
                found += [
                    f"{filename}:{read.lineno}: {ast.unparse(read)}"
                    for read in _reads_off_a_temporary(expression)
                    if (read.lineno, read.col_offset) < comprehension
                ]
    return found


def test_the_check_finds_the_expression_that_crashed_the_registrar() -> None:
    crashed = (
        "def register_request(request, require):\n"
        "    return RegisterRequest(\n"
        "        request_host=parse_uri(request.uri).host,\n"
        "        require=tuple(t for t in require if t),\n"
        "    )\n"
    )
    assert risky_expressions(crashed) == ["<source>:3: parse_uri(request.uri).host"]
    held = crashed.replace("parse_uri(request.uri).host", "uri.host")
    assert risky_expressions(held) == []
    method = "x = f(a=make().params.get('k'), b=request.headers.get('x'), c=[t for t in ts])\n"
    assert risky_expressions(method) == ["<source>:1: make().params"]
    after = "x = (tuple(t for t in ts), make().host)\n"  # the comprehension first: safe
    assert risky_expressions(after) == []
    inside = "x = [make(t).host for t in ts]\n"  # its own scope, per item: safe
    assert risky_expressions(inside) == []


def test_no_compiled_module_reads_off_a_temporary_before_a_comprehension() -> None:
    sources = compiled_sources()
    names = {path.relative_to(ROOT / "src").as_posix() for path in sources}
    assert {"helpline/core/engine.py", "helpline/sip/registrar.py"} <= names
    assert "helpline/sip/auth.py" not in names  # NOT_COMPILED
    found = []
    for path in sources:
        relative = str(path.relative_to(ROOT))
        found += risky_expressions(path.read_text(encoding="utf-8"), relative)
    assert found == [], "hold the temporary in a local first (this module says why):\n" + (
        "\n".join(found)
    )
