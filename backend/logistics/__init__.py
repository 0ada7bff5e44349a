"""Logistics: carrier tracking feeds (poll and push) on orders, and sign-off from the feed."""
