"""Who is acting: the user, their roles, and how they authenticated."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    user_id: int
    username: str
    display_name: str
    roles: frozenset[str]
    department_id: int | None = None
    locale: str | None = None
    via: str = "session"  # session / token / api_key
    scope: str = "write"  # api keys may be read-only
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def can_write(self) -> bool:
        """Viewers and read-scoped API keys only read."""
        return self.scope == "write" and bool(self.roles - {"viewer"})


SYSTEM = Actor(user_id=0, username="system", display_name="system", roles=frozenset({"admin"}), via="system")
