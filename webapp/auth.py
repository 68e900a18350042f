"""Sign-in, users, roles and login rate limiting.

Users come from configuration, never from code: ``Settings.users_file`` (JSON
``{"alice": {"role": "admin", "password_hash": "pbkdf2:sha256:..."}}`` with
:mod:`werkzeug.security` hashes) or the same JSON inline in env ``NBA_USERS``. When neither
is set (the demo), users ``admin``, ``brand`` and ``msl`` are created with the password from
env ``DEMO_PASSWORD`` (default ``demo``) and a warning is logged.

Roles: ``admin`` (everything), ``brand_manager`` and ``msl`` (every page except Admin).
Checks happen on the server: :func:`require_role` in callbacks, plus the request guard in
:mod:`webapp.security` that refuses admin callbacks before they run.
"""
from __future__ import annotations

import hmac
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Flask, abort, current_app, has_request_context, redirect, request, session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature
from werkzeug.security import check_password_hash, generate_password_hash

from engine.config import Settings

log = logging.getLogger(__name__)

ROLES: tuple[str, ...] = ("admin", "brand_manager", "msl")
ROLE_LABELS = {"admin": "Admin", "brand_manager": "Brand manager", "msl": "MSL / field"}
DEMO_USERS = {"admin": "admin", "brand": "brand_manager", "msl": "msl"}
DEFAULT_DEMO_PASSWORD = "demo"

#: A signed-in session's cookie is re-signed (sliding expiry) at most this often, not per request.
SESSION_REFRESH_S = 60

#: Failed logins allowed per (user, IP) within ``LOGIN_WINDOW_S`` before answering 429.
MAX_LOGIN_FAILURES = 5
LOGIN_WINDOW_S = 300


@dataclass(frozen=True)
class User:
    name: str
    role: str

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)


class UsersConfigError(ValueError):
    """The users configuration is unusable (names the source, user and field)."""


def _validate_users(raw, source: str) -> dict[str, dict]:
    if not isinstance(raw, dict) or not raw:
        raise UsersConfigError(f"{source}: expected a non-empty JSON object of users, got {type(raw).__name__}")
    users = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict):
            raise UsersConfigError(f"{source}: user {name!r}: expected an object with role and password_hash")
        role, password_hash = entry.get("role"), entry.get("password_hash")
        if role not in ROLES:
            raise UsersConfigError(f"{source}: user {name!r}: role {role!r} is not one of {', '.join(ROLES)}")
        if not isinstance(password_hash, str) or ":" not in password_hash:
            raise UsersConfigError(
                f"{source}: user {name!r}: password_hash must be a werkzeug.security hash "
                "(e.g. from generate_password_hash), not a plain password"
            )
        users[str(name)] = {"role": role, "password_hash": password_hash}
    return users


def load_users(settings: Settings, environ: dict) -> dict[str, dict]:
    """Users ``{name: {role, password_hash}}`` from the users file, ``NBA_USERS`` or demo defaults."""
    if settings.users_file is not None:
        path = Path(settings.users_file)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsersConfigError(f"USERS_FILE {path}: file not found") from None
        except json.JSONDecodeError as exc:
            raise UsersConfigError(f"USERS_FILE {path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
        return _validate_users(raw, f"USERS_FILE {path}")
    if environ.get("NBA_USERS"):
        try:
            raw = json.loads(environ["NBA_USERS"])
        except json.JSONDecodeError as exc:
            raise UsersConfigError(f"NBA_USERS: invalid JSON at column {exc.colno}: {exc.msg}") from None
        return _validate_users(raw, "NBA_USERS")
    password = environ.get("DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD
    log.warning(
        "No USERS_FILE or NBA_USERS configured: demo users %s with DEMO_PASSWORD%s. "
        "Configure real users before exposing this service.",
        ", ".join(DEMO_USERS), " (default 'demo')" if "DEMO_PASSWORD" not in environ else "",
    )
    return {name: {"role": role, "password_hash": generate_password_hash(password)} for name, role in DEMO_USERS.items()}


# A hash to compare against for unknown users, so both paths take the same time.
_DUMMY_HASH = generate_password_hash(secrets.token_hex(8))


def authenticate(users: dict[str, dict], name: str, password: str) -> User | None:
    entry = users.get(name)
    if entry is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(entry["password_hash"], password):
        return None
    return User(name, entry["role"])


def current_user() -> User | None:
    """The signed-in user of this request, or None (also outside a request)."""
    if not has_request_context():
        return None
    data = session.get("user")
    if not isinstance(data, dict):
        return None
    users = current_app.extensions.get("nba_users", {})
    entry = users.get(data.get("name"))
    # A user removed from or re-roled in the configuration loses the old session's rights.
    if entry is None or entry["role"] != data.get("role"):
        return None
    return User(data["name"], data["role"])


def require_role(*roles: str) -> User:
    """Abort with 401 when nobody is signed in, 403 when the user's role is not in ``roles``."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"require_role: unknown role(s) {sorted(unknown)}; roles are {ROLES}")
    user = current_user()
    if user is None:
        abort(401)
    if user.role not in roles:
        log.warning("refused: user %s (role %s) needs one of %s for %s", user.name, user.role, roles, request.path)
        abort(403)
    return user


class LoginRateLimiter:
    """Counts failed logins per key in a sliding window; Redis when configured, else in-process.

    Redis makes the limit hold across gunicorn workers; if Redis is down the in-process
    counter still limits each worker (slower to trip, never broken).
    """

    def __init__(self, redis_url: str | None = None, max_failures: int = MAX_LOGIN_FAILURES, window_s: int = LOGIN_WINDOW_S):
        self.max_failures = max_failures
        self.window_s = window_s
        self._redis = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._local: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _redis_key(self, key: str) -> str:
        return f"nba:login-failures:{key}"

    def _local_recent(self, key: str, now: float) -> list[float]:
        recent = [t for t in self._local.get(key, []) if now - t < self.window_s]
        self._local[key] = recent
        return recent

    def blocked(self, key: str) -> bool:
        if self._redis is not None:
            try:
                count = self._redis.get(self._redis_key(key))
                return count is not None and int(count) >= self.max_failures
            except Exception as exc:  # noqa: BLE001 - any Redis failure -> local fallback
                log.warning("login rate limiter: Redis unavailable (%s); using in-process counts", exc)
        with self._lock:
            return len(self._local_recent(key, time.monotonic())) >= self.max_failures

    def record_failure(self, key: str) -> None:
        if self._redis is not None:
            try:
                pipe = self._redis.pipeline()
                pipe.incr(self._redis_key(key))
                pipe.expire(self._redis_key(key), self.window_s, nx=True)
                pipe.execute()
                return
            except Exception as exc:  # noqa: BLE001
                log.warning("login rate limiter: Redis unavailable (%s); using in-process counts", exc)
        with self._lock:
            now = time.monotonic()
            self._local_recent(key, now).append(now)

    def reset(self, key: str) -> None:
        if self._redis is not None:
            try:
                self._redis.delete(self._redis_key(key))
            except Exception:  # noqa: BLE001
                pass
        with self._lock:
            self._local.pop(key, None)


class ThrottledRefreshSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, re-signing an unchanged permanent session at most every
    ``refresh_s`` seconds instead of on every response.

    Flask refreshes a permanent session's cookie on every request (``SESSION_REFRESH_EACH_REQUEST``):
    with a callback per click that is a JSON dump + HMAC + ``Set-Cookie`` per request, ~10 % of a
    callback's server CPU under load. The expiry still slides with use, with ``refresh_s`` granularity.
    """

    def __init__(self, refresh_s: float = SESSION_REFRESH_S):
        self.refresh_s = refresh_s

    def open_session(self, app, request_):
        serializer = self.get_signing_serializer(app)
        value = request_.cookies.get(self.get_cookie_name(app))
        if serializer is None or not value:
            return super().open_session(app, request_)
        try:
            data, signed_at = serializer.loads(value, max_age=int(app.permanent_session_lifetime.total_seconds()),
                                               return_timestamp=True)
        except BadSignature:
            return self.session_class()
        opened = self.session_class(data)
        opened.signed_at = signed_at.timestamp()
        return opened

    def should_set_cookie(self, app, session_) -> bool:
        if session_.modified:
            return True
        if not (session_.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]):
            return False
        signed_at = getattr(session_, "signed_at", None)
        return signed_at is None or time.time() - signed_at >= self.refresh_s


def csrf_token() -> str:
    """The session's CSRF token for server-rendered forms (created on first use)."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def _csrf_ok() -> bool:
    sent, expected = request.form.get("csrf_token", ""), session.get("csrf", "")
    return bool(expected) and hmac.compare_digest(sent, expected)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths; anything else (``//evil``, ``https://...``) goes home."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    from pages.login import render_login

    users = current_app.extensions["nba_users"]
    limiter: LoginRateLimiter = current_app.extensions["nba_login_limiter"]
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user() is not None:
            return redirect(next_url)
        return render_login(csrf_token(), next_url=next_url)

    name = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    if not _csrf_ok():
        return render_login(csrf_token(), error="Your session expired; please sign in again.", username=name, next_url=next_url), 400
    key = f"{name.lower()}|{request.remote_addr}"
    if limiter.blocked(key):
        log.warning("login rate limit hit for user %r from %s", name, request.remote_addr)
        minutes = limiter.window_s // 60
        return render_login(csrf_token(), error=f"Too many failed sign-in attempts. Try again in {minutes} minutes.", username=name, next_url=next_url), 429
    user = authenticate(users, name, password)
    if user is None:
        limiter.record_failure(key)
        return render_login(csrf_token(), error="Unknown user name or wrong password.", username=name, next_url=next_url), 401
    limiter.reset(key)
    session.clear()  # new session on sign-in: no fixation of a pre-login session
    session["user"] = {"name": user.name, "role": user.role}
    session.permanent = True
    log.info("user %s (%s) signed in from %s", user.name, user.role, request.remote_addr)
    return redirect(next_url)


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    session.clear()
    return redirect("/login")


def init_auth(server: Flask, settings: Settings, environ: dict) -> None:
    server.extensions["nba_users"] = load_users(settings, environ)
    server.extensions["nba_login_limiter"] = LoginRateLimiter(settings.redis_url)
    server.session_interface = ThrottledRefreshSessionInterface()
    server.register_blueprint(bp)
