"""The CCAI tests run on the API tests' app and fixtures (tests/api/conftest.py), on SQLite
and PostgreSQL.

The fixtures are tests/api's own, loaded from their file and re-exported here (a conftest
of another directory is not visible to this one); `api_support` is a plain module of that
directory, put on the path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[2]
if str(_TESTS / "api") not in sys.path:
    sys.path.insert(0, str(_TESTS / "api"))


def _load(name: str, path: Path) -> object:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_api_fixtures = _load("ccai_api_fixtures", _TESTS / "api" / "conftest.py")
api_pg_url = _api_fixtures.api_pg_url  # type: ignore[attr-defined]
api_sqlite_template = _api_fixtures.api_sqlite_template  # type: ignore[attr-defined]
backend = _api_fixtures.backend  # type: ignore[attr-defined]
database_url = _api_fixtures.database_url  # type: ignore[attr-defined]
server = _api_fixtures.server  # type: ignore[attr-defined]
api = _api_fixtures.api  # type: ignore[attr-defined]
