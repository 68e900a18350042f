"""The sign-in page and plain server-rendered messages (no Dash: they work before sign-in).

``/login`` is a classic HTML form POSTed to the Flask route in :mod:`webapp.auth`, with a
per-session CSRF token. Jinja autoescaping renders every value as text.
"""
from __future__ import annotations

from flask import render_template_string
from markupsafe import Markup

_BASE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{{ title }} · HCP Next Best Action</title>
  <link rel="icon" href="/_favicon.ico">
  <link rel="stylesheet" href="/assets/00_bootstrap_flatly.min.css">
  <link rel="stylesheet" href="/assets/10_app.css">
</head>
<body class="auth-body">
  <main class="auth-card card shadow-sm">
    <div class="card-body p-4">
      <div class="auth-brand mb-3"><span class="brand-mark">NBA</span> HCP Next Best Action</div>
      {{ body }}
    </div>
  </main>
</body>
</html>"""

_LOGIN = """
<h1 class="h4 mb-3">Sign in</h1>
{% if error %}<div class="alert alert-danger py-2" role="alert" id="login-error">{{ error }}</div>{% endif %}
<form method="post" action="/login" id="login-form" autocomplete="on" novalidate>
  <input type="hidden" name="csrf_token" value="{{ csrf }}">
  <input type="hidden" name="next" value="{{ next_url }}">
  <div class="mb-3">
    <label class="form-label" for="login-username">User name</label>
    <input class="form-control" id="login-username" name="username" value="{{ username }}"
           autocomplete="username" required autofocus>
  </div>
  <div class="mb-3">
    <label class="form-label" for="login-password">Password</label>
    <input class="form-control" id="login-password" name="password" type="password"
           autocomplete="current-password" required>
  </div>
  <button class="btn btn-primary w-100" id="login-submit" type="submit">Sign in</button>
</form>
<p class="text-muted small mt-3 mb-0">Access is limited to authorised brand, medical and admin staff.</p>
"""

_LOGOUT = """
<h1 class="h4 mb-3">Sign out</h1>
{% if error %}<div class="alert alert-danger py-2" role="alert" id="logout-error">{{ error }}</div>{% endif %}
<form method="post" action="/logout" id="logout-form">
  <input type="hidden" name="csrf_token" value="{{ csrf }}">
  <button class="btn btn-primary w-100" id="logout-submit" type="submit">Sign out</button>
</form>
<p class="text-muted small mt-3 mb-0"><a href="/">Back to the dashboard</a></p>
"""

_MESSAGE = """
<h1 class="h4 mb-2">{{ heading }}</h1>
<p class="text-muted">{{ message }}</p>
{% if link %}<a class="btn btn-outline-primary" href="{{ link[0] }}">{{ link[1] }}</a>{% endif %}
"""


def _page(title: str, body_template: str, **values) -> str:
    # The body is rendered (and escaped) first; Markup stops it being escaped twice.
    body = Markup(render_template_string(body_template, **values))
    return render_template_string(_BASE, title=title, body=body)


def render_login(csrf: str, error: str | None = None, username: str = "", next_url: str = "/") -> str:
    """The sign-in form (``error`` is shown as text above it)."""
    return _page("Sign in", _LOGIN, csrf=csrf, error=error, username=username, next_url=next_url)


def render_logout(csrf: str, error: str | None = None) -> str:
    """The sign-out confirmation (sign-out is a POST with the CSRF token, never a plain link)."""
    return _page("Sign out", _LOGOUT, csrf=csrf, error=error)


def render_message(heading: str, message: str, link: tuple[str, str] | None = None) -> str:
    """A small standalone page (e.g. 403 for a non-admin opening /admin)."""
    return _page(heading, _MESSAGE, heading=heading, message=message, link=link)
