"""Connector secrets encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from GENDAN_CONNECTOR_KEY (set the same value on every server and worker of an
installation), else from `<data_dir>/connector_key`, generated once on first use like
`var/secret_key`. Losing the key loses the secrets (the connectors then ask for them again), not
the connectors.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from backend.errors import GendanError
from backend.settings import get_settings

ENV = "GENDAN_CONNECTOR_KEY"
KEY_FILE = "connector_key"
_cached: dict[str, Fernet] = {}


def _key_from_file(data_dir: Path) -> bytes:
    path = data_dir / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process wrote it first: use theirs
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key() + b"\n")
    return path.read_bytes().strip()


def fernet() -> Fernet:
    key = os.environ.get(ENV, "").strip()
    source = key or str(get_settings().data_dir)
    if source not in _cached:
        try:
            _cached[source] = Fernet(key.encode() if key else _key_from_file(Path(source)))
        except (ValueError, OSError) as exc:
            raise GendanError("connector.key_unavailable", {"variable": ENV}) from exc
    return _cached[source]


def encrypt(values: dict[str, str]) -> str:
    """Secrets -> token for the `secrets` column ('' when there are none)."""
    clean = {k: v for k, v in values.items() if v}
    return fernet().encrypt(json.dumps(clean).encode()).decode() if clean else ""


def decrypt(token: str) -> dict[str, Any]:
    if not token:
        return {}
    try:
        return json.loads(fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise GendanError("connector.secrets_unreadable", {"variable": ENV}) from exc
