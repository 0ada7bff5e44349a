"""Live updates: a websocket per browser tab, fed by commits (PostgreSQL LISTEN/NOTIFY between processes)."""
