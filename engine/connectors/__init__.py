"""Pure parts of the pull connectors: JSON paths, paging plans, cron schedules (no I/O, no clock)."""
