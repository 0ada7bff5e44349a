"""Settings, read once from the environment (prefix GENDAN_, plus DATABASE_URL)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GENDAN_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{ROOT / 'var' / 'gendan.db'}",
        validation_alias="DATABASE_URL",
    )
    secret_key: str = "dev-secret-change-me"
    # where customers and e-mails reach this installation; unset (""), pages use the request's own
    # address and `gendan serve` its --host/--port, so a newcomer's first link is never dead
    base_url: str = ""
    default_locale: str = "zh_CN"
    timezone: str = "Asia/Shanghai"  # the installation's own zone: its "today" (order numbers, by date)
    run_worker: bool = True
    scan_interval_seconds: int = 60
    session_max_age_seconds: int = 8 * 3600
    login_attempts_per_minute: int = 10
    max_body_bytes: int = 1_000_000
    upload_dir: Path = ROOT / "var" / "uploads"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_from: str = "gendan@localhost"
    secure_cookies: bool = False

    @property
    def public_base_url(self) -> str:
        """The address for links sent outside (no request to derive it from), without a trailing slash."""
        return (self.base_url or "http://127.0.0.1:8000").rstrip("/")


def get_settings() -> Settings:
    return Settings()
