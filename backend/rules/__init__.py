"""Alert rules: stored definitions, firings, the time-rule scan and the event path."""
