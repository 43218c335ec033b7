"""The sans-I/O routing engine: events in, commands out. Stdlib only; no I/O, no clock."""

from helpline.core.base import EngineOptions
from helpline.core.engine import Engine

__all__ = ["Engine", "EngineOptions"]
