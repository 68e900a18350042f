"""State the web workers of one host share when no Redis is configured: one SQLite file.

Sign-in counters (:mod:`webapp.ratelimit`) and live sessions (:mod:`webapp.sessions`) must hold
across gunicorn workers; memory per worker would let each worker count alone. SQLite in WAL mode
serves several processes on one host safely, survives restarts, and needs no service.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

FILE_NAME = "web-state.sqlite3"
BUSY_TIMEOUT_S = 5.0


class HostDB:
    """A SQLite file opened once per thread and process (connections never cross a fork).

    Parameters
    ----------
    path : the database file (created with its directory).
    schema : SQL run once per connection (``CREATE TABLE IF NOT EXISTS ...``).
    """

    def __init__(self, path: Path, schema: str):
        self.path = Path(path)
        self.schema = schema
        self._local = threading.local()

    def connection(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # autocommit; writers that read-modify-write open BEGIN IMMEDIATE themselves
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(self.schema)
            os.chmod(self.path, 0o600)  # session ids are credentials
            local.conn, local.pid = conn, os.getpid()
        return local.conn


def host_db_path(var_dir: Path) -> Path:
    return Path(var_dir) / FILE_NAME
