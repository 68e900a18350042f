"""What every serving process must follow without a restart: the store's versions and the as-of day.

- The data version changes with every ingest (bumped in the ingest's own transaction, see
  :class:`engine.data.store.Store`), the feedback version with every answer.
- The as-of day is the day rules and plans reason at: ``AS_OF`` when it is a date; the demo
  world's last day when ``python -m engine generate`` recorded one in the store and ``AS_OF`` is
  unset; else (or with ``AS_OF=now``) today's date on the real clock, which moves at midnight.

:class:`VersionWatcher` reads them in a background thread of each process (every
``check_every_s``) and calls back when they change, so a worker switches to new data within a
second plus the time to build it, with or without traffic. A DuckDB file store mirrors its
versions to a small file: there requests also glance at it (at most every :data:`GLANCE_S`), read
new feedback back at once (a small query) and wake the thread for the rest, so an answer given on
one worker is read back by the next page another worker serves.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time

import pandas as pd

from engine.data.store import DEMO_AS_OF, Store

log = logging.getLogger("engine.service.live")

#: a request re-reads a DuckDB store's version mirror at most this often (a file read: microseconds)
GLANCE_S = 0.05


def reasoning_day(as_of, store: Store) -> pd.Timestamp:
    """The as-of day (midnight) for the ``Settings.as_of`` value ``as_of`` (see the module docstring)."""
    if isinstance(as_of, pd.Timestamp):
        return as_of.normalize()
    if as_of is None:
        recorded = store.get_meta(DEMO_AS_OF)
        if recorded:
            return pd.Timestamp(recorded).normalize()
    return pd.Timestamp.now().normalize()


def reasoning_instant(day: pd.Timestamp) -> pd.Timestamp:
    """The instant rules reason at on ``day``: its end, so every touch of the day is in the past."""
    return pd.Timestamp(day).normalize() + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)


def follows_clock(as_of) -> bool:
    """True when the as-of day is today's date (it changes at midnight): ``AS_OF`` unset or ``now``."""
    return not isinstance(as_of, pd.Timestamp)


class VersionWatcher:
    """Calls ``on_change(state)`` when the store's versions (or, on the clock, the date) change.

    Parameters
    ----------
    store : the product's store.
    on_change : callable taking ``{"data": str, "feedback": str, "today": "YYYY-MM-DD"}``; runs in the
        watcher thread (or in :meth:`poll` when ``check_every_s`` is 0). Exceptions are logged.
    check_every_s : period of the background check; 0 checks on every :meth:`poll` instead.
    on_glance : optional callable taking the same state, run in the request when a glance at the
        version mirror shows a change (what is cheap enough to follow at once); exceptions are logged.
    """

    def __init__(self, store: Store, on_change, check_every_s: float = 1.0, on_glance=None):
        self.store = store
        self.on_change = on_change
        self.on_glance = on_glance
        self.check_every_s = float(check_every_s)
        self.last: dict | None = None
        self._pid: int | None = None
        self._glanced = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def read(self) -> dict:
        return {**self.store.versions(), "today": pd.Timestamp.now().date().isoformat()}

    def check(self) -> None:
        """Read the versions once and call back if they moved (errors are logged, never raised)."""
        try:
            state = self.read()
        except Exception as exc:  # noqa: BLE001 - a failed read keeps serving what we have
            log.warning("data version unreadable (%s); still serving what is loaded", exc)
            return
        if state != self.last:
            try:
                self.on_change(state)
                self.last = state
            except Exception:  # noqa: BLE001 - retried on the next check
                log.exception("switching to data %s failed; still serving what is loaded", state)

    def poll(self) -> None:
        """Check now (``check_every_s == 0``) or make sure this process's background thread runs, and
        wake it when a cheap glance at the store's version mirror shows a change."""
        if self.check_every_s <= 0:
            self.check()
            return
        if self._pid != os.getpid():  # first call in this process (also after a fork)
            with self._lock:
                if self._pid != os.getpid():
                    self._stop, self._wake = threading.Event(), threading.Event()
                    self._thread = threading.Thread(target=self._run, name="data-version", daemon=True)
                    self._thread.start()
                    self._pid = os.getpid()
                    atexit.register(self.stop)
        now = time.monotonic()
        if self.store.versions_mirror is not None and now - self._glanced >= GLANCE_S:
            self._glanced = now
            try:
                state = self.read()
            except Exception:  # noqa: BLE001 - the background check reports problems
                return
            if state != self.last:
                if self.on_glance is not None:
                    try:
                        self.on_glance(state)
                    except Exception:  # noqa: BLE001 - the background check follows it anyway
                        log.exception("following %s at once failed; the background check will", state)
                self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.check_every_s)
            self._wake.clear()
            if not self._stop.is_set():
                self.check()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=5)
