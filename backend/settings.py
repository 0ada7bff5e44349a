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
    base_url: str = "http://127.0.0.1:8000"
    default_locale: str = "zh_CN"
    run_worker: bool = True
    scan_interval_seconds: int = 60
    # a scanning worker's lease (renewed at every commit): a frozen or killed scanner is taken
    # over after this long (backend/rules/tasks.py)
    scan_lease_seconds: int = 60
    session_max_age_seconds: int = 8 * 3600
    login_attempts_per_minute: int = 10
    max_body_bytes: int = 1_000_000
    upload_dir: Path = ROOT / "var" / "uploads"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_from: str = "gendan@localhost"
    # outbox: rows claimed per batch, and how long a claim (renewed before each send) holds a row;
    # the lease must outlast one send's worst case (several 10 s SMTP/HTTP timeouts)
    outbox_batch_size: int = 10
    outbox_lease_seconds: int = 300
    secure_cookies: bool = False


def get_settings() -> Settings:
    return Settings()
