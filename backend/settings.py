"""Settings, read once from the environment (prefix GENDAN_, plus DATABASE_URL)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
# the default of earlier versions, published in the source: anyone could sign cookies and tokens with it
PUBLIC_SECRET_KEYS = frozenset({"dev-secret-change-me"})
SECRET_KEY_FILE = "secret_key"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GENDAN_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{ROOT / 'var' / 'gendan.db'}",
        validation_alias="DATABASE_URL",
    )
    # None: read var/secret_key, generated on the first start (see `ensure_secret_key`)
    secret_key: str | None = None
    data_dir: Path = ROOT / "var"
    # where customers and e-mails reach this installation; unset (""), pages use the request's own
    # address and `gendan serve` its --host/--port, so a newcomer's first link is never dead
    base_url: str = ""
    default_locale: str = "zh_CN"
    # the zone of an installation whose admin has not set one (admin page "Calendar", backend/installation)
    timezone: str = "Asia/Shanghai"
    run_worker: bool = True
    scan_interval_seconds: int = 60
    # how long a scan transaction may sit idle before PostgreSQL ends it (a frozen scanner's row
    # locks go after this long; its partitions are taken over after worker_lease_seconds)
    # (backend/rules/tasks.py)
    scan_lease_seconds: int = 60
    # the reconciliation of the rules on the due-time index (backend/rules/due_index.py): the
    # one-pass scan over them, this often and after one is enabled or republished
    reconcile_interval_seconds: int = 3600
    # horizontal workers (backend/worker/partitions.py): orders split into this many partitions by
    # order id, a lease per (job, partition) renewed each tick; a killed worker's partitions are
    # taken over after the lease runs out (a worker whose loop is busy longer than that with
    # another job hands its partitions to the others, which is what they are for)
    worker_partitions: int = 16
    worker_lease_seconds: float = 3.0
    session_max_age_seconds: int = 8 * 3600
    login_attempts_per_minute: int = 10
    max_body_bytes: int = 1_000_000
    # files: CSV/Excel imports, form imports and order attachments (the upload paths of
    # backend/middleware.py); the import service refuses larger files with the same number
    max_upload_bytes: int = 20_000_000
    upload_dir: Path = ROOT / "var" / "uploads"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_from: str = "gendan@localhost"
    # outbox: rows claimed per batch, and how long a claim (renewed before each send, then every
    # quarter of it while the send is in flight) holds a row;
    # the lease must outlast one send's worst case where no heartbeat runs (an admin's test-send)
    outbox_batch_size: int = 10
    outbox_lease_seconds: int = 300
    secure_cookies: bool = False

    @property
    def public_base_url(self) -> str:
        """The address for links sent outside (no request to derive it from), without a trailing slash."""
        return (self.base_url or "http://127.0.0.1:8000").rstrip("/")


class SecretKeyError(Exception):
    """The server must not start: `code` and `params` say why (translated by the CLI)."""

    def __init__(self, code: str, params: dict[str, str]):
        super().__init__(code)
        self.code, self.params = code, params


def get_settings() -> Settings:
    return Settings()


def ensure_secret_key(settings: Settings) -> tuple[Settings, Path | None]:
    """Settings with a private secret key, and the file's path when it was generated just now.

    GENDAN_SECRET_KEY wins (set it to the same value on every server of one installation). Without
    it the key lives in `<data_dir>/secret_key`, written once (owner-only) on the first start and
    read on every later one, as other self-hosted apps do, so `make run` needs no configuration and
    a restart keeps everyone signed in. The public default of earlier versions is refused.
    """
    if settings.secret_key is not None:
        if settings.secret_key.strip() in PUBLIC_SECRET_KEYS or not settings.secret_key.strip():
            raise SecretKeyError("settings.secret_key_public", {"variable": "GENDAN_SECRET_KEY"})
        return settings, None
    path = settings.data_dir / SECRET_KEY_FILE
    generated = None
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process of this installation wrote it first: use theirs
            else:
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_urlsafe(48) + "\n")
                generated = path
        key = path.read_text().strip()
    except OSError as exc:
        raise SecretKeyError("settings.secret_key_unavailable", {"path": str(path), "detail": exc.strerror or str(exc)}) \
            from exc
    if len(key) < 32 or key in PUBLIC_SECRET_KEYS:
        raise SecretKeyError("settings.secret_key_public", {"variable": str(path)})
    return settings.model_copy(update={"secret_key": key}), generated
