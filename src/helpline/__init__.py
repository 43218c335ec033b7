"""Helpline: an open-source, self-hosted programmable contact center."""

# First, before any engine module is imported: which build of the engine runs (compiled or
# pure Python), and never a compiled module older than its source.
from helpline.compiled import BUILD as BUILD
