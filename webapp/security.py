"""Request guard, clean errors and security headers.

Every request except static files and the sign-in routes needs a signed-in user: pages
redirect to ``/login``, API calls (``/_dash-*``) get a 401 JSON. A page that declares ``roles``
(:mod:`webapp.access`) is refused with 403 to any other role: a GET of its path, and any
callback its module defines — before the callback runs, whatever the browser shows (the
callbacks check again with :func:`webapp.access.require_page_role`). Callback inputs are
validated (:mod:`webapp.inputs`): a bad one is a 400 naming it. An unknown file under
``/_dash-component-suites/`` is a plain 404.
"""
from __future__ import annotations

import logging
from urllib.parse import quote

import dash
from dash.exceptions import CallbackException, DependencyException
from flask import Flask, jsonify, redirect, request

from webapp.access import callback_roles, path_roles, refusal
from webapp.auth import current_user
from webapp.inputs import InvalidInput, check_dispatch

log = logging.getLogger(__name__)

STATIC_PREFIXES = ("/assets/", "/_dash-component-suites/")
PUBLIC_PATHS = ("/login", "/logout", "/_favicon.ico", "/healthz")
API_PREFIXES = ("/_dash-", "/_reload-hash", "/api/")
DISPATCH_PATH = "/_dash-update-component"


def _is_public(path: str) -> bool:
    return path.startswith(STATIC_PREFIXES) or path in PUBLIC_PATHS


def guard(app: dash.Dash):
    path = request.path
    if _is_public(path):
        return None
    user = current_user()
    is_api = path.startswith(API_PREFIXES)
    if user is None:
        if is_api:
            return jsonify(error="not signed in", login="/login"), 401
        target = request.full_path if request.query_string else path
        return redirect(f"/login?next={quote(target, safe='/')}")
    if path == DISPATCH_PATH:
        # JSON only: a cross-site HTML form cannot send it without a CORS preflight (CSRF).
        if not request.is_json:
            return jsonify(error="callbacks accept application/json only"), 415
        body = request.get_json(silent=True)
        if body is None:
            return jsonify(error="invalid JSON body"), 400
        output = body.get("output") if isinstance(body, dict) else None
        roles = callback_roles(app.callback_map.get(output) if isinstance(output, str) else None)
        if roles is not None and user.role not in roles:
            log.warning("refused callback %r of a %s page for user %s (%s)", output, "/".join(roles), user.name,
                        user.role)
            return jsonify(error=f"{' or '.join(roles)} role required"), 403
        check_dispatch(body, app.callback_map)
        return None
    roles = None if is_api else path_roles(path)
    if roles is not None and user.role not in roles:
        return _forbidden_page(roles), 403
    return None


def _forbidden_page(roles) -> str:
    from pages.login import render_message

    heading, message = refusal(roles)
    return render_message(heading, f"{message} Ask an administrator if you need access.", link=("/", "Back to overview"))


def content_security_policy(script_hashes: list[str]) -> str:
    """The tightest CSP Dash works under (checked by tests/e2e/test_pages_console.py).

    Scripts: own origin plus the hashes of Dash's inline bootstrap scripts; ``'unsafe-eval'``
    because plotly.js compiles some trace code with ``new Function``. Styles need
    ``'unsafe-inline'``: plotly.js and dcc inject ``<style>`` elements at run time.
    """
    hashes = " ".join(script_hashes)  # already quoted by Dash.csp_hashes()
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {hashes} 'unsafe-eval'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def init_security(server: Flask, app: dash.Dash, hsts_seconds: int) -> None:
    """Guard every request, answer bad input and unknown assets cleanly, add the security headers.

    The CSP script hashes are read per response (``Dash.csp_hashes``): Dash adds inline scripts
    (e.g. the Pages router's clientside callback) only while serving its first request.
    ``hsts_seconds`` > 0 adds ``Strict-Transport-Security`` (deployments behind TLS only).
    """
    server.before_request(lambda: guard(app))

    @server.errorhandler(InvalidInput)
    def _invalid_input(exc: InvalidInput):
        log.info("refused callback input on %s: %s", request.path, exc.description)
        return jsonify(error=exc.description), 400

    @server.errorhandler(CallbackException)
    def _callback_mismatch(exc: CallbackException):
        if type(exc) is not CallbackException:  # a subclass is a server bug (e.g. a callback's return value)
            log.error("callback failed on %s", request.path, exc_info=exc)
            return jsonify(error="internal error"), 500
        # Dash raises the base class when a request's outputs or inputs do not fit the callback
        log.info("refused callback request: %s", exc)
        return jsonify(error=f"request does not match the callback's declaration ({exc})"), 400

    @server.errorhandler(DependencyException)
    def _unknown_asset(exc: DependencyException):
        # Dash raises this for any path under /_dash-component-suites/ it does not serve
        log.info("404 for unknown Dash asset %s", request.path[:200])
        return jsonify(error="not found"), 404

    @server.after_request
    def _headers(response):
        response.headers.setdefault("Content-Security-Policy", content_security_policy(app.csp_hashes()))
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if hsts_seconds > 0:
            response.headers["Strict-Transport-Security"] = f"max-age={hsts_seconds}; includeSubDomains"
        if not request.path.startswith(STATIC_PREFIXES):
            # Signed-in content must not be cached by shared caches or the back button after logout.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @server.route("/healthz")
    def healthz():
        """Liveness for load balancers: no details (the Admin page shows full health)."""
        return jsonify(status="ok")
