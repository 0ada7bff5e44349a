"""Stored order scores (issue 14): on-time rates, priority, churn signals."""
