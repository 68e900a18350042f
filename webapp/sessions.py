"""Server-side record of live sessions, so a session can be ended before its cookie expires.

Sign-in opens a random session id, kept in the signed cookie and here; every request checks it is
still here; sign-out deletes it, so the cookie is worthless afterwards even if someone kept a copy.

Records live in the host's SQLite file (:mod:`webapp.host_state`, always written) and, when
``REDIS_URL`` is set, in Redis too, which is what every worker of every host reads. While Redis is
unreachable the host's file answers (sessions opened on this host keep working); a Redis restart
without persistence ends every session (people sign in again), never the reverse.
"""
from __future__ import annotations

import logging
import secrets
import time

from webapp.host_state import HostDB

log = logging.getLogger(__name__)

REDIS_PREFIX = "nba:session:"
#: A record's expiry is pushed forward at most this often (one write per session per minute).
TOUCH_EVERY_S = 60
#: After a Redis failure, use this host's file for this long before trying Redis again.
REDIS_RETRY_S = 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS web_sessions (sid TEXT PRIMARY KEY, user_name TEXT NOT NULL, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS web_sessions_user ON web_sessions (user_name);
"""


class SessionRegistry:
    """Open, check and end sessions; thread- and fork-safe.

    Parameters
    ----------
    host_db_file : the host's SQLite file.
    lifetime_s : a session unused this long is gone (the cookie's own lifetime).
    redis_url : optional Redis shared by all hosts.
    """

    def __init__(self, host_db_file, lifetime_s: float, redis_url: str | None = None):
        self.db = HostDB(host_db_file, _SCHEMA)
        self.lifetime_s = float(lifetime_s)
        self._redis = None
        if redis_url:
            from engine.service.cache import redis_client

            self._redis = redis_client(redis_url)
        self._redis_down_until = 0.0

    def _redis_up(self) -> bool:
        return self._redis is not None and time.monotonic() >= self._redis_down_until

    def _redis_failed(self, exc: Exception, consequence: str) -> None:
        if time.monotonic() >= self._redis_down_until:  # once per outage period
            log.warning("sessions: Redis unavailable (%s); %s", exc, consequence)
        self._redis_down_until = time.monotonic() + REDIS_RETRY_S

    def open(self, user_name: str) -> str:
        """A new session id for ``user_name``."""
        sid = secrets.token_urlsafe(32)
        now = time.time()
        conn = self.db.connection()
        conn.execute("DELETE FROM web_sessions WHERE expires <= ?", (now,))
        conn.execute("INSERT INTO web_sessions (sid, user_name, expires) VALUES (?, ?, ?)",
                     (sid, user_name, now + self.lifetime_s))
        if self._redis_up():
            try:
                self._redis.set(REDIS_PREFIX + sid, user_name, ex=int(self.lifetime_s))
            except Exception as exc:  # noqa: BLE001 - this host's file still knows the session
                self._redis_failed(exc, "new sessions are known to this host only")
        return sid

    def is_live(self, sid: str, user_name: str) -> bool:
        """True when ``sid`` is an open session of ``user_name`` (its expiry slides with use)."""
        if self._redis_up():
            try:
                # GETEX slides the expiry in the same round trip
                value = self._redis.getex(REDIS_PREFIX + sid, ex=int(self.lifetime_s))
                return value is not None and value.decode() == user_name
            except Exception as exc:  # noqa: BLE001 - fall back to this host's record
                self._redis_failed(exc, "checking sessions against this host's records")
        conn, now = self.db.connection(), time.time()
        row = conn.execute("SELECT user_name, expires FROM web_sessions WHERE sid = ?", (sid,)).fetchone()
        if row is None or row[0] != user_name or row[1] <= now:
            return False
        if row[1] - now < self.lifetime_s - TOUCH_EVERY_S:
            conn.execute("UPDATE web_sessions SET expires = ? WHERE sid = ?", (now + self.lifetime_s, sid))
        return True

    def close(self, sid: str) -> None:
        """End the session everywhere (Redis first: it is what other hosts read)."""
        if self._redis is not None:  # always tried: a missed delete leaves the session valid elsewhere
            try:
                self._redis.delete(REDIS_PREFIX + sid)
            except Exception as exc:  # noqa: BLE001
                log.error("sessions: could not end session in Redis (%s); it stays valid on other hosts "
                          "until Redis is back and the session expires", exc)
        self.db.connection().execute("DELETE FROM web_sessions WHERE sid = ?", (sid,))
