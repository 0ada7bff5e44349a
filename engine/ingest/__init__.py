"""Pure planning for imports (no I/O): history replay (history.py)."""
