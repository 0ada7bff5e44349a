"""Customer tracking links: a no-login, revocable page per order, milestones, urge, unsubscribe."""
