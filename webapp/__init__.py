"""The Dash app factory.

``create_app(settings)`` builds a Flask server, binds the extensions (``init_app`` style), adds
sign-in, the request guard and security headers, and mounts the Dash multi-page app whose pages
are the modules of the top-level ``pages/`` package. The NBA service is created lazily, per
process, on first use (see :mod:`webapp.extensions`).

Page callbacks registered with ``@dash.callback`` go to the first app that serves a request;
create one app per process (tests: one per test module).
"""
from __future__ import annotations

import importlib
import logging
import os
import sys
from datetime import timedelta
from pathlib import Path

import dash
from dash._pages import PAGE_REGISTRY
from flask import Flask

from engine.config import PROJECT_ROOT, Settings
from webapp.access import check_declarations
from webapp.auth import init_auth
from webapp.extensions import nba
from webapp.jobs import background_manager, init_jobs
from webapp.layout import register_shell_callbacks, shell_layout
from webapp.secret_key import resolve_secret_key
from webapp.security import init_security

log = logging.getLogger(__name__)

PAGES_DIR = PROJECT_ROOT / "pages"
ASSETS_DIR = PROJECT_ROOT / "assets"
#: HSTS max-age when ``SESSION_COOKIE_SECURE`` is on and ``HSTS_SECONDS`` is not set (one year).
DEFAULT_HSTS_SECONDS = 31_536_000


def _flag(environ, name: str) -> bool:
    return environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def hsts_seconds(environ) -> int:
    """``Strict-Transport-Security`` max-age: ``HSTS_SECONDS``, else a year behind TLS (0: no header)."""
    text = environ.get("HSTS_SECONDS", "").strip()
    if not text:
        return DEFAULT_HSTS_SECONDS if _flag(environ, "SESSION_COOKIE_SECURE") else 0
    if not text.isdigit():
        raise ValueError(f"HSTS_SECONDS: {text!r} is not a whole number of seconds (0 turns the header off)")
    return int(text)


def _is_production(environ) -> bool:
    return "production" in (environ.get("NBA_ENV", "").lower(), environ.get("FLASK_ENV", "").lower())


def _load_pages(pages_dir: Path = PAGES_DIR) -> None:
    """Import every ``pages/*.py`` that registers a page (re-executing it for a new app).

    Dash's own loader would name modules after the file path relative to this package; doing it
    here keeps the normal names (``pages.overview``) so tests can import page modules directly.
    """
    for path in sorted(pages_dir.glob("*.py")):
        if path.name.startswith("_") or "register_page" not in path.read_text(encoding="utf-8"):
            continue
        name = f"pages.{path.stem}"
        # Dash keeps the registry and callbacks globally; re-executing registers them for this app.
        module = importlib.reload(sys.modules[name]) if name in sys.modules else importlib.import_module(name)
        entry = PAGE_REGISTRY.get(name)
        if entry is not None and not entry["supplied_layout"]:
            entry["layout"] = module.layout
    check_declarations()


def create_app(settings: Settings | None = None, environ: dict | None = None, service=None) -> dash.Dash:
    """Build the dashboard.

    Parameters
    ----------
    settings : runtime configuration (default: ``Settings.from_env()``).
    environ : environment for web-only options (default ``os.environ``): ``NBA_USERS``,
        ``DEMO_PASSWORD``, ``NBA_ENV``/``FLASK_ENV``, ``SESSION_COOKIE_SECURE``, ``HSTS_SECONDS``,
        ``SESSION_HOURS``, ``LOGIN_LIMIT_*``.
    service : an ``NBAService`` to use instead of creating one (tests).

    Raises
    ------
    webapp.secret_key.SecretKeyError
        In production (``NBA_ENV`` or ``FLASK_ENV`` = production) without an explicit ``SECRET_KEY``;
        anywhere with a known public key (see :func:`webapp.secret_key.resolve_secret_key`).
    """
    environ = os.environ if environ is None else environ
    settings = settings or Settings.from_env(environ)
    secret_key = resolve_secret_key(settings.secret_key, settings.var_dir, _is_production(environ))
    https = _flag(environ, "SESSION_COOKIE_SECURE")

    server = Flask(__name__)
    server.config.update(
        SECRET_KEY=secret_key,
        SESSION_COOKIE_NAME="nba_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=float(environ.get("SESSION_HOURS") or 8)),
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    nba.init_app(server, settings, service=service)
    init_auth(server, settings, environ)

    app = dash.Dash(
        __name__,
        server=server,
        use_pages=True,
        pages_folder="",  # pages are imported by _load_pages below
        assets_folder=str(ASSETS_DIR),
        external_stylesheets=[],  # the theme is served from assets/ (no CDN: works offline)
        suppress_callback_exceptions=True,
        title="HCP Next Best Action",
        update_title=None,
        serve_locally=True,
        compress=False,
        background_callback_manager=background_manager(settings),
    )
    init_jobs(server)
    _load_pages()
    app.layout = shell_layout
    register_shell_callbacks(app)
    init_security(server, app, hsts_seconds(environ))
    # Dash does its set-up (JS libraries, callback map, the Pages router callback) in before_request
    # hooks guarded by a flag it sets *before* the work: a second thread's request arriving meanwhile
    # skips set-up and is answered from half-built state (a page that stays on "Loading..." or never
    # routes). Run those hooks once now, before any request: Flask's public preprocess_request runs
    # Dash's hooks (registered first) and stops at the sign-in guard's redirect.
    with server.test_request_context("/"):
        server.preprocess_request()
    log.info("web app created (artifacts %s, store %s)", settings.artifacts_dir, settings.database_url.split("://")[0])
    return app


__all__ = ["create_app"]
