"""Real server processes (`gendan serve`, no worker) on one database: what two web servers of one
installation are. Used by the two-server live test and bench/live_latency.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server_processes(database_url: str, count: int, *, data_dir: Path, timeout: float = 180):
    """Start `count` processes; yield their base URLs; stop them (by their own process ids)."""
    env = {**os.environ, "DATABASE_URL": database_url, "GENDAN_SECRET_KEY": "live-two-servers-secret",
           "GENDAN_DATA_DIR": str(data_dir), "GENDAN_LOGIN_ATTEMPTS_PER_MINUTE": "1000",
           "GENDAN_RUN_WORKER": "false"}
    gendan = str(Path(sys.executable).with_name("gendan"))
    procs, urls = [], []
    try:
        for _ in range(count):
            port = free_port()
            log = open(data_dir / f"server-{port}.log", "wb")  # noqa: SIM115 (closed with the process)
            procs.append((subprocess.Popen([gendan, "serve", "--host", "127.0.0.1", "--port", str(port),
                                            "--no-worker"], env=env, cwd=ROOT, stdout=log,
                                           stderr=subprocess.STDOUT), log))
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + timeout
        for url, (proc, _log) in zip(urls, procs, strict=True):
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"server {url} exited: see {data_dir}")
                try:
                    urllib.request.urlopen(f"{url}/login", timeout=5).read()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"server {url} did not start") from None
                    time.sleep(0.2)
        yield urls
    finally:
        for proc, _log in procs:
            proc.terminate()
        for proc, log in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            log.close()
