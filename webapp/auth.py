"""Sign-in and sign-out, users, roles and server-side sessions.

Users come from configuration, never from code: ``Settings.users_file`` (JSON
``{"alice": {"role": "admin", "password_hash": "pbkdf2:sha256:..."}}`` with
:mod:`werkzeug.security` hashes) or the same JSON inline in env ``NBA_USERS``. When neither
is set (the demo), users ``admin``, ``brand`` and ``msl`` are created with the password from
env ``DEMO_PASSWORD`` (default ``demo``) and a warning is logged.

Roles: ``admin`` (everything), ``brand_manager`` and ``msl`` (every page except Admin). A user may
carry a sales ``territory`` (``{"role": "msl", "territory": "West", ...}``): the worklist of an
MSL is that territory's; brand managers and admins pick one.
Checks happen on the server: :func:`require_role` in callbacks, plus the request guard in
:mod:`webapp.security` that refuses admin callbacks before they run.

A session is a signed cookie naming a session id the server keeps (:mod:`webapp.sessions`);
sign-out (a POST with the CSRF token) ends it. Sign-in attempts are throttled
(:mod:`webapp.ratelimit`).
"""
from __future__ import annotations

import hmac
import json
import logging
import secrets
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, has_request_context, redirect, request, session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature
from werkzeug.security import check_password_hash, generate_password_hash

from engine.config import Settings
from webapp.host_state import host_db_path
from webapp.ratelimit import MAX_USERNAME_CHARS, init_login_limits, login_limits, login_storage_uri
from webapp.sessions import SessionRegistry

log = logging.getLogger(__name__)

ROLES: tuple[str, ...] = ("admin", "brand_manager", "msl")
ROLE_LABELS = {"admin": "Admin", "brand_manager": "Brand manager", "msl": "MSL / field"}
DEMO_USERS = {"admin": "admin", "brand": "brand_manager", "msl": "msl"}
#: The demo MSL's territory (a territory of the demo world).
DEMO_TERRITORIES = {"msl": "West"}
#: Longest territory name in the users configuration.
MAX_TERRITORY_CHARS = 100
DEFAULT_DEMO_PASSWORD = "demo"

#: A signed-in session's cookie is re-signed (sliding expiry) at most this often, not per request.
SESSION_REFRESH_S = 60

#: Longest password checked (hashing cost grows with its length).
MAX_PASSWORD_CHARS = 1024
#: Longest ``next`` target kept after sign-in (a longer one goes home).
MAX_NEXT_CHARS = 2048


@dataclass(frozen=True)
class User:
    name: str
    role: str
    territory: str | None = None

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
        territory = entry.get("territory")
        if territory is not None and not (isinstance(territory, str) and 0 < len(territory.strip()) <= MAX_TERRITORY_CHARS):
            raise UsersConfigError(f"{source}: user {name!r}: territory must be a name of 1 to "
                                   f"{MAX_TERRITORY_CHARS} characters (got {territory!r})")
        users[str(name)] = {"role": role, "password_hash": password_hash,
                            "territory": territory.strip() if territory else None}
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
    return {name: {"role": role, "password_hash": generate_password_hash(password), "territory": DEMO_TERRITORIES.get(name)}
            for name, role in DEMO_USERS.items()}


# A hash to compare against for unknown users, so both paths take the same time.
_DUMMY_HASH = generate_password_hash(secrets.token_hex(8))


def authenticate(users: dict[str, dict], name: str, password: str) -> User | None:
    entry = users.get(name)
    if entry is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(entry["password_hash"], password):
        return None
    return User(name, entry["role"], entry.get("territory"))


def current_user() -> User | None:
    """The signed-in user of this request, or None (also outside a request).

    The cookie must name a session still open on the server (ended by sign-out), for a user the
    configuration still has with the same role. Checked once per request.
    """
    if not has_request_context():
        return None
    if "nba_user" not in g:
        g.nba_user = _session_user()
    return g.nba_user


def _session_user() -> User | None:
    data, sid = session.get("user"), session.get("sid")
    if not isinstance(data, dict) or not isinstance(sid, str):
        return None
    users = current_app.extensions.get("nba_users", {})
    name = data.get("name")
    entry = users.get(name) if isinstance(name, str) else None
    # A user removed from or re-roled in the configuration loses the old session's rights.
    if entry is None or entry["role"] != data.get("role"):
        return None
    if not current_app.extensions["nba_sessions"].is_live(sid, name):
        return None
    return User(name, data["role"], entry.get("territory"))


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


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this site, else ``/``.

    Browsers read ``/\\evil``, ``/<TAB>/evil`` (they drop tabs and newlines) and ``//evil`` as another
    host, so any backslash, control character or whitespace refuses the target, as does anything with
    a scheme or a host after parsing.
    """
    if not target or len(target) > MAX_NEXT_CHARS or not target.startswith("/"):
        return "/"
    if "\\" in target or any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return "/"
    return target


def login():
    from pages.login import render_login

    users = current_app.extensions["nba_users"]
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user() is not None:
            return redirect(next_url)
        return render_login(csrf_token(), next_url=next_url)

    name = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    if not _csrf_ok():
        return render_login(csrf_token(), error="Your session expired; please sign in again.", username=name, next_url=next_url), 400
    if len(name) > MAX_USERNAME_CHARS or len(password) > MAX_PASSWORD_CHARS:
        return render_login(csrf_token(), error="Unknown user name or wrong password.", next_url=next_url), 400
    user = authenticate(users, name, password)
    if user is None:
        g.password_failed = True  # counted by the sign-in limits (webapp.ratelimit)
        log.info("failed sign-in for user %r from %s", name, request.remote_addr)
        return render_login(csrf_token(), error="Unknown user name or wrong password.", username=name, next_url=next_url), 401
    sessions: SessionRegistry = current_app.extensions["nba_sessions"]
    session.clear()  # new session on sign-in: no fixation of a pre-login session
    session["user"] = {"name": user.name, "role": user.role}
    session["sid"] = sessions.open(user.name)
    csrf_token()  # a fresh token for this session's forms (sign-out)
    session.permanent = True
    log.info("user %s (%s) signed in from %s", user.name, user.role, request.remote_addr)
    return redirect(next_url)


def logout():
    """POST with the CSRF token ends the session on the server; GET shows a sign-out button."""
    from pages.login import render_logout

    if request.method == "GET":
        if current_user() is None:
            return redirect("/login")
        return render_logout(csrf_token())
    if not _csrf_ok():
        return render_logout(csrf_token(), error="Your sign-out form expired; please press Sign out again."), 400
    sid = session.get("sid")
    if isinstance(sid, str):
        current_app.extensions["nba_sessions"].close(sid)
    session.clear()
    return redirect("/login")


def init_auth(server: Flask, settings: Settings, environ: dict) -> None:
    """Users, sessions checked on the server, sign-in limits, and the /login and /logout routes."""
    server.extensions["nba_users"] = load_users(settings, environ)
    state_file = host_db_path(settings.var_dir)
    lifetime_s = server.permanent_session_lifetime.total_seconds()
    server.extensions["nba_sessions"] = SessionRegistry(state_file, lifetime_s, settings.redis_url)
    server.session_interface = ThrottledRefreshSessionInterface()
    limited_login = init_login_limits(server, login, login_storage_uri(settings.redis_url, state_file),
                                      login_limits(environ))
    server.add_url_rule("/login", "login", limited_login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "logout", logout, methods=["GET", "POST"])
