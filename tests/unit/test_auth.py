"""Sign-in, users configuration, roles and login rate limiting (Flask test client, fake service)."""
from __future__ import annotations

import contextlib
import json
import re

import pytest
from werkzeug.exceptions import Forbidden, Unauthorized
from werkzeug.security import generate_password_hash

from tests.fixtures.web import TEST_USERS, sign_in, sign_out
from webapp import create_app
from webapp.auth import UsersConfigError, load_users, require_role
from webapp.secret_key import SecretKeyError


def test_pages_redirect_to_login_and_api_answers_401(client):
    page = client.get("/hcps?q=smith")
    assert page.status_code == 302
    assert page.headers["Location"] == "/login?next=/hcps%3Fq%3Dsmith"
    for path in ("/_dash-layout", "/_dash-dependencies"):
        assert client.get(path).status_code == 401
    api = client.post("/_dash-update-component", json={"output": "x.children", "inputs": []})
    assert api.status_code == 401 and api.get_json()["error"] == "not signed in"


def test_login_success_sets_session_and_redirects(client):
    response = sign_in(client, "brand", next_url="/channels")
    assert response.status_code == 302 and response.headers["Location"] == "/channels"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    layout = client.get("/_dash-layout")
    assert layout.status_code == 200
    assert '"brand"' in layout.get_data(as_text=True)


def test_session_cookie_is_re_signed_only_after_the_refresh_interval(app, client):
    sign_in(client, "brand")
    assert "Set-Cookie" not in client.get("/_dash-layout").headers  # just signed: no re-signing per request
    app.server.session_interface.refresh_s = 0
    refreshed = client.get("/_dash-layout")
    assert refreshed.status_code == 200 and "nba_session=" in refreshed.headers["Set-Cookie"]
    assert client.get("/_dash-layout").status_code == 200  # the re-signed cookie is valid


def test_login_failure_shows_error_and_never_signs_in(client):
    response = sign_in(client, "brand", password="wrong")
    assert response.status_code == 401
    assert "Unknown user name or wrong password." in response.get_data(as_text=True)
    assert client.get("/_dash-layout").status_code == 401
    assert sign_in(client, "nobody", password="x").status_code == 401


def test_login_without_csrf_token_is_refused(client):
    client.get("/login")
    response = client.post("/login", data={"username": "admin", "password": TEST_USERS["admin"][1]})
    assert response.status_code == 400
    assert client.get("/_dash-layout").status_code == 401


def test_open_redirect_is_refused(client):
    response = sign_in(client, "msl", next_url="//evil.example/x")
    assert response.headers["Location"] == "/"


def test_rate_limit_after_five_failures_even_with_right_password(client):
    for _ in range(5):
        assert sign_in(client, "admin", password="bad").status_code == 401
    blocked = sign_in(client, "admin")
    assert blocked.status_code == 429
    body = blocked.get_data(as_text=True)
    assert "Too many failed sign-in attempts for this user name from your address" in body
    assert "Nothing is locked" in body and 1 <= int(blocked.headers["Retry-After"]) <= 61  # the minute window
    # Another user from the same address is not locked out by admin's failures.
    assert sign_in(client, "msl").status_code == 302


def test_logout_ends_the_session(client):
    sign_in(client, "admin")
    assert client.get("/_dash-layout").status_code == 200
    assert 'action="/logout"' in client.get("/logout").get_data(as_text=True)  # GET only asks
    assert client.get("/_dash-layout").status_code == 200
    assert sign_out(client).headers["Location"] == "/login"
    assert client.get("/_dash-layout").status_code == 401


def test_logout_needs_the_csrf_token(client):
    sign_in(client, "admin")
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 400
    assert client.get("/_dash-layout").status_code == 200


def test_users_from_env_json_and_demo_defaults(settings, caplog):
    inline = json.dumps({"carol": {"role": "msl", "password_hash": generate_password_hash("pw")}})
    assert load_users(settings, {"NBA_USERS": inline})["carol"]["role"] == "msl"
    demo = load_users(settings, {"DEMO_PASSWORD": "s3cret"})
    assert {name: u["role"] for name, u in demo.items()} == {"admin": "admin", "brand": "brand_manager", "msl": "msl"}
    assert "demo users" in caplog.text


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"dave": {"role": "root", "password_hash": "pbkdf2:x$y"}}, "user 'dave': role 'root' is not one of"),
        ({"erin": {"role": "msl", "password_hash": "plain"}}, "user 'erin': password_hash must be a werkzeug.security hash"),
        ([], "expected a non-empty JSON object"),
    ],
)
def test_bad_users_configuration_names_the_problem(settings, raw, message):
    with pytest.raises(UsersConfigError, match=re.escape(message)):
        load_users(settings, {"NBA_USERS": json.dumps(raw)})


def test_missing_users_file_is_a_clear_error(settings, tmp_path):
    with pytest.raises(UsersConfigError, match="USERS_FILE .*missing.json: file not found"):
        load_users(settings.with_(users_file=tmp_path / "missing.json"), {})


def test_production_refuses_to_start_without_an_explicit_secret(settings):
    with pytest.raises(SecretKeyError, match="NBA_ENV=production needs an explicit SECRET_KEY"):
        create_app(settings.with_(secret_key=None), environ={"NBA_ENV": "production"})
    with pytest.raises(SecretKeyError, match="at least 32 characters"):
        create_app(settings.with_(secret_key="short"), environ={"NBA_ENV": "production"})


def test_require_role_in_request_context(app):
    sessions = app.server.extensions["nba_sessions"]

    @contextlib.contextmanager
    def as_session(**data):
        """A request whose (already verified) cookie holds ``data``."""
        with app.server.test_request_context("/"):
            from flask import session

            session.update(data)
            yield

    with pytest.raises(Unauthorized):
        with as_session():
            require_role("admin")
    with pytest.raises(Unauthorized):  # no server-side session: not signed in
        with as_session(user={"name": "msl", "role": "msl"}):
            require_role("admin")
    sid = sessions.open("msl")
    with as_session(user={"name": "msl", "role": "msl"}, sid=sid):
        with pytest.raises(Forbidden):
            require_role("admin")
        assert require_role("admin", "msl").name == "msl"
    # A session naming a role the configuration no longer gives is not trusted.
    with pytest.raises(Unauthorized):
        with as_session(user={"name": "msl", "role": "admin"}, sid=sid):
            require_role("admin")
    # Nor one the server ended (sign-out).
    sessions.close(sid)
    with pytest.raises(Unauthorized):
        with as_session(user={"name": "msl", "role": "msl"}, sid=sid):
            require_role("msl")
