"""Flows: stored definitions, running instances, timers; services that call engine/flows."""
