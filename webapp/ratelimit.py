"""Sign-in throttling with Flask-Limiter: per address, per user name, per (user name, address), global.

Only failed password checks count, and every limit is checked *before* the password is hashed, so
a refused attempt costs no hashing: the global limit caps the password-hashing work of the whole
site (a spray of distinct user names from many addresses included). A refusal is a back-off, not
a lockout: 429 with ``Retry-After`` and a message saying how long to wait; the windows are short.

Counters live in Redis when ``REDIS_URL`` is set (every worker of every host; while Redis is down
each worker counts in memory, and a Redis restart without persistence starts the windows afresh),
else in the host's SQLite file (:mod:`webapp.host_state`: every worker of the host, kept across
restarts).
"""
from __future__ import annotations

import math
import time
import flask
from flask import Flask, g, request
from flask_limiter import Limiter, RequestLimit
from limits import parse_many
from limits.storage import Storage

from webapp.host_state import HostDB

#: (env variable, default, what a breach tells the user) per scope; limits in Flask-Limiter notation.
LOGIN_LIMITS = {
    "user_ip": ("LOGIN_LIMIT_USER_IP", "5 per minute; 20 per hour", "for this user name from your address"),
    "user": ("LOGIN_LIMIT_USER", "10 per minute; 50 per hour", "for this user name"),
    "ip": ("LOGIN_LIMIT_IP", "20 per minute; 100 per hour", "from your address"),
    "global": ("LOGIN_LIMIT_GLOBAL", "30 per minute", "on this site (too many sign-in attempts right now)"),
}
#: Longest user name the sign-in form accepts (a longer one is refused before any limit or hash).
MAX_USERNAME_CHARS = 64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rate_counters (key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS rate_counters_expires ON rate_counters (expires);
"""


class SQLiteLimitStorage(Storage):
    """Fixed-window counters for :mod:`limits` in the host's SQLite file (``nba-sqlite:///<path>``)."""

    STORAGE_SCHEME = ["nba-sqlite"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.db = HostDB(uri.split("://", 1)[1], _SCHEMA)

    @property
    def base_exceptions(self):
        import sqlite3

        return sqlite3.Error

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        conn, now = self.db.connection(), time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM rate_counters WHERE expires <= ?", (now,))
            (count,) = conn.execute(
                "INSERT INTO rate_counters (key, count, expires) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET count = count + excluded.count RETURNING count",
                (key, amount, now + expiry)).fetchone()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return int(count)

    def get(self, key: str) -> int:
        row = self.db.connection().execute("SELECT count FROM rate_counters WHERE key = ? AND expires > ?",
                                           (key, time.time())).fetchone()
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        row = self.db.connection().execute("SELECT expires FROM rate_counters WHERE key = ? AND expires > ?",
                                           (key, time.time())).fetchone()
        return float(row[0]) if row else time.time()

    def check(self) -> bool:
        return self.db.connection().execute("SELECT 1").fetchone() == (1,)

    def reset(self) -> int:
        return self.db.connection().execute("DELETE FROM rate_counters").rowcount

    def clear(self, key: str) -> None:
        self.db.connection().execute("DELETE FROM rate_counters WHERE key = ?", (key,))


def login_limits(environ) -> dict[str, str]:
    """``{scope: limit}`` from the ``LOGIN_LIMIT_*`` variables or the defaults.

    Raises
    ------
    ValueError
        A variable that is not a rate limit (names the variable).
    """
    limits = {}
    for scope, (variable, default, _) in LOGIN_LIMITS.items():
        text = environ.get(variable) or default
        try:
            parse_many(text)
        except ValueError:
            raise ValueError(f"{variable}: {text!r} is not a rate limit such as '5 per minute; 20 per hour'") from None
        limits[scope] = text
    return limits


def login_username() -> str:
    """The user name of this sign-in attempt, as the limits count it (case-insensitive, bounded)."""
    return request.form.get("username", "").strip().lower()[:MAX_USERNAME_CHARS]


def _address() -> str:
    return request.remote_addr or "unknown"


def _password_failed(response: flask.Response) -> bool:
    """Deduct only attempts whose password was checked and wrong (set by the login view)."""
    return bool(g.get("password_failed"))


def _refusal(why: str):
    def on_breach(limit: RequestLimit) -> flask.Response:
        from pages.login import render_login
        from webapp.auth import csrf_token, safe_next

        # several limits may be breached at once: tell the longest wait
        wait = max(g.get("login_wait_s", 0), math.ceil(limit.reset_at - time.time()), 1)
        g.login_wait_s = wait
        message = (f"Too many failed sign-in attempts {why}. Nothing is locked: wait {wait} seconds, then sign in "
                   "again. If this keeps happening, tell an administrator.")
        response = flask.make_response(render_login(csrf_token(), error=message, username=login_username(),
                                                     next_url=safe_next(request.form.get("next"))), 429)
        response.headers["Retry-After"] = str(wait)
        return response

    return on_breach


def init_login_limits(server: Flask, view, storage_uri: str, limits: dict[str, str]):
    """Bind Flask-Limiter to ``server``; returns ``view`` under the four limits (POSTs only)."""
    limiter = Limiter(
        key_func=_address, app=server, storage_uri=storage_uri, strategy="fixed-window",
        key_prefix="nba-login", headers_enabled=False, fail_on_first_breach=False,
        in_memory_fallback_enabled=True,  # Redis down: each worker counts alone until it is back
    )
    keys = {"user_ip": lambda: f"{login_username()}|{_address()}", "user": lambda: f"user:{login_username()}",
            "ip": _address, "global": lambda: "everyone"}
    for scope, (_, _, why) in LOGIN_LIMITS.items():
        view = limiter.limit(limits[scope], key_func=keys[scope], scope=f"login-{scope}", methods=["POST"],
                             deduct_when=_password_failed, on_breach=_refusal(why))(view)
    return view


def login_storage_uri(redis_url: str | None, host_db_file) -> str:
    return redis_url if redis_url else f"nba-sqlite://{host_db_file}"
