"""The shared "which bundle version is serving" pointer, read by every process.

The durable copy lives in the store's ``meta`` table (key ``serving_version``); when Redis is
configured it is mirrored there and read from there (cheaper than a database round trip), with
the store as the fallback while Redis is down. A DuckDB store also gets a mirror file next to the
database (``<database>.serving_version``): DuckDB lets one process hold the database file at a
time, so polling the store from every worker would make their requests queue for the file lock. Each process re-reads it in a background thread
every ``check_every_s`` seconds, so requests only compare two strings.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from pathlib import Path

from engine.data.store import Store

log = logging.getLogger("engine.service.registry")

META_KEY = "serving_version"
REDIS_KEY = "nba:serving_version"


class VersionPointer:
    """Read and write the serving version shared by all workers.

    Parameters
    ----------
    store : the product's store (durable pointer).
    redis_url : optional Redis mirror.
    check_every_s : background re-read period for :meth:`poll` (0: read on every call).
    mirror : file mirroring the pointer for cheap reads (default: next to a DuckDB database file;
        none for PostgreSQL or an in-memory DuckDB).
    """

    def __init__(self, store: Store, redis_url: str | None = None, check_every_s: float = 0.5,
                 mirror: Path | None = None):
        self.store = store
        self.check_every_s = check_every_s
        self.mirror = mirror if mirror is not None else default_mirror(store)
        self._redis = None
        if redis_url:
            from engine.service.cache import redis_client

            self._redis = redis_client(redis_url)
        self._redis_down_until = 0.0
        self._redis_warned = False
        self._last_value: str | None = None
        self._poller_pid: int | None = None
        self._generation = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def read(self) -> str | None:
        """The pointer now (Redis first when configured and up, else the store)."""
        if self._redis is not None and time.monotonic() >= self._redis_down_until:
            try:
                value = self._redis.get(REDIS_KEY)
            except Exception as exc:  # noqa: BLE001 - Redis down: the store has the durable copy
                self._redis_down_until = time.monotonic() + 5.0
                if not self._redis_warned:  # once per outage
                    self._redis_warned = True
                    log.warning("version pointer: Redis unavailable (%s); reading the store", exc)
            else:
                self._redis_warned = False
                if value is not None:
                    return value.decode()
        if self.mirror is not None:
            try:
                return self.mirror.read_text().strip() or None
            except FileNotFoundError:  # first reader: copy the durable value into the mirror
                value = self.store.get_meta(META_KEY)
                self._write_mirror(value)
                return value
        return self.store.get_meta(META_KEY)

    def _write_mirror(self, value: str | None) -> None:
        if self.mirror is None:
            return
        tmp = self.mirror.with_name(f"{self.mirror.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(value or "")
        os.replace(tmp, self.mirror)  # atomic: a reader sees the old or the new version, never half

    def write(self, version: str) -> None:
        """Point every process at ``version`` (store first: it is the durable copy)."""
        self.store.set_meta(META_KEY, version)
        self._write_mirror(version)
        if self._redis is not None:
            try:
                self._redis.set(REDIS_KEY, version)
            except Exception as exc:  # noqa: BLE001
                log.warning("version pointer: could not mirror %s to Redis (%s); readers fall back to the store",
                            version, exc)
                self._redis_down_until = time.monotonic() + 5.0
        with self._lock:
            self._generation += 1  # a background read that started before this write must not undo it
            self._last_value = version

    def poll(self) -> str | None:
        """The pointer as of at most ``check_every_s`` seconds ago (cheap to call on every request).

        With ``check_every_s > 0`` a daemon thread of this process re-reads it in the background, so
        a request never waits for the store; ``check_every_s == 0`` reads it on every call.
        """
        if self.check_every_s <= 0:
            return self._safe_read(self._last_value)
        if self._poller_pid != os.getpid():  # first call in this process (also after a fork)
            with self._lock:
                if self._poller_pid != os.getpid():
                    self._last_value = self._safe_read(self._last_value)
                    self._stop = threading.Event()
                    self._thread = threading.Thread(target=self._poll_forever, name="version-pointer", daemon=True)
                    self._thread.start()
                    self._poller_pid = os.getpid()
                    atexit.register(self.stop)
        return self._last_value

    def _safe_read(self, fallback: str | None) -> str | None:
        try:
            return self.read()
        except Exception as exc:  # noqa: BLE001 - a pointer read failure must not fail a request
            log.warning("version pointer unreadable (%s); keeping %s", exc, fallback)
            return fallback

    def stop(self) -> None:
        """Stop the background reader (also run at interpreter exit: a daemon thread killed inside a
        database driver call aborts the process)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _poll_forever(self) -> None:
        while not self._stop.wait(self.check_every_s):
            generation = self._generation
            value = self._safe_read(self._last_value)
            with self._lock:
                if generation == self._generation:
                    self._last_value = value


def default_mirror(store: Store) -> Path | None:
    """``<database file>.serving_version`` for a DuckDB file store, else None."""
    if store.dialect != "duckdb" or store.url.endswith(":memory:"):
        return None
    database = Path("/" + store.url[len("duckdb://"):].lstrip("/"))  # the path Store opens
    return database.with_name(database.name + ".serving_version")
