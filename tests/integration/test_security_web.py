"""Issue 11, web half: each failure the attackers reported, replayed against the real app.

Flask test client for what one process shows; two apps on one ``VAR_DIR`` stand for two gunicorn
workers of a host; real gunicorn (2 workers) where the workers must agree (generated key,
sign-in limits, sign-out).
"""
from __future__ import annotations

import json
import logging
import multiprocessing
import re
import shutil
import stat

import pytest
import requests
from flask.sessions import SecureCookieSessionInterface

from engine.data.store import Store
from engine.service import NBAService
from tests.fixtures.settings import REDIS_URL
from tests.fixtures.web import (AdminRecorder, GunicornServer, TEST_USERS, csrf_from, requests_login, route_payload,
                                sign_in, sign_out, write_users_file)
from tests.unit.test_service import copy_settings
from tests.unit.test_service_fakes import table_bundle
from webapp import create_app
from webapp.inputs import MAX_TEXT_CHARS, PROPERTY_RULES
from webapp.secret_key import KEY_FILE_NAME, SecretKeyError, host_secret_key

OLD_PUBLIC_KEY = "dev-only-not-secret"
COOKIE = "nba_session"
DISPATCH = "/_dash-update-component"


def make_app(settings, tmp_path, environ=None, service=None, **changes):
    """The real app on a fake admin service (what sign-in and the guard need), users from a file."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    users = write_users_file(tmp_path / "users.json")
    return create_app(settings.with_(users_file=users, **changes), environ=environ or {},
                      service=service or AdminRecorder())


@pytest.fixture
def client(settings, tmp_path):
    return make_app(settings, tmp_path).server.test_client()


def cookie_of(client) -> str:
    return client.get_cookie(COOKIE).value


def forge(payload: dict, key: str) -> str:
    """A session cookie for ``payload`` signed the way Flask signs them, with ``key``."""
    from flask import Flask

    forger = Flask("forger")
    forger.secret_key = key
    return SecureCookieSessionInterface().get_signing_serializer(forger).dumps(payload)


# -- 1. a secret that is never public ---------------------------------------------------------
def test_a_cookie_forged_with_the_old_public_key_is_refused(settings, tmp_path):
    app = make_app(settings, tmp_path, secret_key=None)  # no SECRET_KEY: what `make run` does
    client = app.server.test_client()
    for payload in ({"user": {"name": "admin", "role": "admin"}},
                    {"user": {"name": "admin", "role": "admin"}, "sid": "guessed", "_permanent": True}):
        client.set_cookie(COOKIE, forge(payload, OLD_PUBLIC_KEY))
        assert client.get("/admin").status_code == 302  # to the sign-in page
        assert client.get("/_dash-layout").status_code == 401
        assert client.post(DISPATCH, json={"output": "admin-versions.children", "inputs": []}).status_code == 401


def test_a_cookie_signed_with_the_real_key_but_no_server_session_is_refused(settings, tmp_path):
    app = make_app(settings, tmp_path)
    client = app.server.test_client()
    client.set_cookie(COOKIE, forge({"user": {"name": "admin", "role": "admin"}, "sid": "x" * 43}, settings.secret_key))
    assert client.get("/_dash-layout").status_code == 401


def test_the_old_public_key_is_refused_as_configuration(settings, tmp_path):
    with pytest.raises(SecretKeyError, match="public default"):
        make_app(settings, tmp_path, secret_key=OLD_PUBLIC_KEY)


def test_the_generated_key_is_private_shared_and_logged(settings, tmp_path, caplog):
    var_dir = tmp_path / "var"
    caplog.set_level(logging.INFO, logger="webapp.secret_key")
    first = make_app(settings, tmp_path, secret_key=None, var_dir=var_dir)
    second = make_app(settings, tmp_path, secret_key=None, var_dir=var_dir)  # a second worker
    key_file = var_dir / KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.server.secret_key == second.server.secret_key == key_file.read_text().strip()
    assert len(first.server.secret_key) >= 40
    assert f"generated a random session key in {key_file}" in caplog.text
    assert f"using this host's generated session key in {key_file}" in caplog.text
    # signed in through one worker, recognised by the other
    client = first.server.test_client()
    sign_in(client, "admin")
    other = second.server.test_client()
    other.set_cookie(COOKIE, cookie_of(client))
    assert other.get("/_dash-layout").status_code == 200


def _race_for_the_key(path, barrier, keys):
    barrier.wait()
    keys.put(host_secret_key(path))


def test_workers_starting_together_agree_on_one_key(tmp_path):
    ctx = multiprocessing.get_context("fork")
    barrier, keys = ctx.Barrier(8), ctx.Queue()
    path = tmp_path / "var" / KEY_FILE_NAME
    workers = [ctx.Process(target=_race_for_the_key, args=(path, barrier, keys)) for _ in range(8)]
    for worker in workers:
        worker.start()
    found = {keys.get(timeout=60) for _ in workers}
    for worker in workers:
        worker.join(timeout=60)
    assert found == {path.read_text().strip()}
    assert [p.name for p in path.parent.iterdir()] == [KEY_FILE_NAME]  # no temporary file left behind


def test_a_key_file_readable_by_others_is_refused(tmp_path):
    path = tmp_path / KEY_FILE_NAME
    path.write_text("k" * 64)
    path.chmod(0o644)
    with pytest.raises(SecretKeyError, match="chmod 600"):
        host_secret_key(path)


def test_rotating_the_key_signs_everybody_out(settings, tmp_path):
    before = make_app(settings, tmp_path, secret_key="key-one-" + "x" * 40)
    client = before.server.test_client()
    sign_in(client, "admin")
    assert client.get("/_dash-layout").status_code == 200
    after = make_app(settings, tmp_path, secret_key="key-two-" + "y" * 40)  # same host state, new key
    replay = after.server.test_client()
    replay.set_cookie(COOKIE, cookie_of(client))
    assert replay.get("/_dash-layout").status_code == 401
    assert replay.get("/").headers["Location"].startswith("/login")


# -- 2. redirects stay on our site --------------------------------------------------------------
@pytest.mark.parametrize("target", ["/\t/evil.example", "//evil.example", "/\\evil.example", "/\\/evil.example",
                                    "https://evil.example", "javascript:alert(1)", "/\n/evil.example",
                                    "\t//evil.example", "http:/evil.example", "/ /evil.example", "evil.example"])
def test_next_outside_our_site_goes_home(client, target):
    assert sign_in(client, "msl", next_url=target).headers["Location"] == "/"


def test_the_reported_percent_09_redirect_is_refused(client):
    page = client.get("/login?next=/%09/evil.example").get_data(as_text=True)
    assert 'name="next" value="/"' in page
    sign_in(client, "msl")
    response = client.get("/login?next=/%09/evil.example")  # already signed in: redirected at once
    assert response.status_code == 302 and response.headers["Location"] == "/"


@pytest.mark.parametrize("target", ["/channels", "/hcps?q=smith", "/hcp/1234567893", "/hcps?q=a%20b"])
def test_next_on_our_site_is_kept(client, target):
    assert sign_in(client, "msl", next_url=target).headers["Location"] == target


# -- 4. sign-in throttling that holds ------------------------------------------------------------
def _counting_password_checks(monkeypatch) -> list:
    import webapp.auth

    calls, check = [], webapp.auth.check_password_hash

    def counted(*args):
        calls.append(1)
        return check(*args)

    monkeypatch.setattr(webapp.auth, "check_password_hash", counted)
    return calls


def test_spraying_past_the_global_limit_is_refused_without_hashing(settings, tmp_path, monkeypatch):
    app = make_app(settings, tmp_path, environ={"LOGIN_LIMIT_GLOBAL": "10 per minute"})
    client = app.server.test_client()
    checks = _counting_password_checks(monkeypatch)
    answers = [sign_in(client, f"sprayed-{k}", password="guess", environ_base={"REMOTE_ADDR": f"10.0.{k}.1"}).status_code
               for k in range(25)]
    assert answers == [401] * 10 + [429] * 15
    assert len(checks) == 10  # refused attempts cost no password hashing
    right = sign_in(client, "admin", environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert right.status_code == 429 and int(right.headers["Retry-After"]) >= 1
    assert "on this site" in right.get_data(as_text=True) and len(checks) == 10


def test_spraying_user_names_from_one_address_hits_the_address_limit(client):
    answers = [sign_in(client, f"name-{k}", password="guess").status_code for k in range(22)]
    assert answers == [401] * 20 + [429] * 2
    refused = sign_in(client, "admin")
    assert refused.status_code == 429 and "from your address" in refused.get_data(as_text=True)
    # the right password from another address is not refused
    assert sign_in(client, "admin", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 302


def test_the_limits_are_shared_by_the_workers_of_a_host(settings, tmp_path):
    first, second = make_app(settings, tmp_path), make_app(settings, tmp_path)  # one VAR_DIR
    clients = [first.server.test_client(), second.server.test_client()]
    for k in range(5):
        assert sign_in(clients[k % 2], "brand", password="bad").status_code == 401
    assert sign_in(clients[1], "brand").status_code == 429
    assert sign_in(clients[0], "brand").status_code == 429


@pytest.mark.redis
def test_the_limits_are_shared_through_redis_by_every_host(settings, tmp_path):
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter("nba-login*"):
        client.delete(key)
    hosts = [make_app(settings, tmp_path / name, redis_url=REDIS_URL, var_dir=tmp_path / name / "var")
             for name in ("a", "b")]
    clients = [host.server.test_client() for host in hosts]
    for k in range(5):
        assert sign_in(clients[k % 2], "msl", password="bad", environ_base={"REMOTE_ADDR": "10.7.7.7"}).status_code == 401
    assert sign_in(clients[1], "msl", environ_base={"REMOTE_ADDR": "10.7.7.7"}).status_code == 429
    for key in client.scan_iter("nba-login*"):
        client.delete(key)


def test_the_limits_still_hold_while_redis_is_down(settings, tmp_path):
    app = make_app(settings, tmp_path, redis_url="redis://127.0.0.1:1/0")
    client = app.server.test_client()
    answers = [sign_in(client, "admin", password="bad").status_code for _ in range(6)]
    assert answers == [401] * 5 + [429]


# -- 5. revocable sessions ------------------------------------------------------------------------
def test_a_cookie_replayed_after_sign_out_is_refused(settings, tmp_path):
    first, second = make_app(settings, tmp_path), make_app(settings, tmp_path)  # two workers of a host
    client = first.server.test_client()
    sign_in(client, "admin")
    kept = cookie_of(client)
    assert sign_out(client).headers["Location"] == "/login"
    for app in (first, second):
        replay = app.server.test_client()
        replay.set_cookie(COOKIE, kept)
        assert replay.get("/_dash-layout").status_code == 401
        assert replay.get("/admin").status_code == 302


def test_sign_out_is_a_post_with_the_csrf_token(client):
    sign_in(client, "admin")
    assert client.get("/logout").status_code == 200  # a page with the button, nothing ended
    assert client.post("/logout", data={}).status_code == 400
    assert client.get("/_dash-layout").status_code == 200
    token = csrf_from(client, "/logout")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/_dash-layout").status_code == 401


@pytest.mark.redis
def test_sign_out_on_one_host_ends_the_session_on_every_host(settings, tmp_path):
    hosts = [make_app(settings, tmp_path / name, redis_url=REDIS_URL, var_dir=tmp_path / name / "var")
             for name in ("a", "b")]
    client = hosts[0].server.test_client()
    sign_in(client, "brand")
    kept = cookie_of(client)
    other = hosts[1].server.test_client()
    other.set_cookie(COOKIE, kept)
    assert other.get("/_dash-layout").status_code == 200  # the other host knows the session (Redis)
    sign_out(client)
    assert other.get("/_dash-layout").status_code == 401


def test_secure_cookie_and_hsts_settings(settings, tmp_path):
    app = make_app(settings, tmp_path, environ={"SESSION_COOKIE_SECURE": "1", "HSTS_SECONDS": "600"})
    client = app.server.test_client()
    assert client.get("/login").headers["Strict-Transport-Security"] == "max-age=600; includeSubDomains"
    assert "Secure" in sign_in(client, "admin").headers["Set-Cookie"]
    plain = make_app(settings, tmp_path).server.test_client()
    assert "Strict-Transport-Security" not in plain.get("/login").headers


# -- 3. rollback and reload decide from the shared pointer ---------------------------------------
def test_rollback_right_after_a_reload_lands_on_the_previous_version_10_times_in_10(world_settings, tmp_path):
    settings = copy_settings(world_settings, tmp_path)
    v0, v1, v2 = "20240101-000000-aaaaaa", "20240102-000000-bbbbbb", "20240103-000000-cccccc"
    for seed, version in enumerate((v0, v1, v2)):
        table_bundle(settings, seed=seed, version=version, make_current=version == v1)
    # two workers: each follows the pointer only hourly, so a switch by one is unseen by the other
    workers = [NBAService.from_settings(settings, check_every_s=3600) for _ in range(2)]
    landed = []
    for k in range(10):
        reloader, roller = workers[k % 2], workers[(k + 1) % 2]
        assert reloader.reload(v2, user="ada", role="admin")["ok"]
        outcome = roller.rollback(user="ada", role="admin")
        landed.append(outcome["version"])
        assert outcome["from"] == v2  # decided from the shared pointer, not the roller's own version
    assert landed == [v1] * 10
    assert workers[0].pointer.read() == v1
    for worker in workers:
        worker.close()


# -- 6. clean errors --------------------------------------------------------------------------------
HUGE = "X" * 20_000


@pytest.fixture(scope="module")
def real_app(trained_settings, tmp_path_factory):
    """The app on the real service over a copy of the tiny trained world, one HCP's state 20,000
    characters long (what one bad ingest row once made of /channels and /segments)."""
    root = tmp_path_factory.mktemp("security-real")
    store_file = root / "store.duckdb"
    shutil.copyfile(trained_settings.database_url.removeprefix("duckdb:///"), store_file)
    store = Store(f"duckdb:///{store_file}")
    store.execute("UPDATE hcps SET state = ? WHERE hcp_id = (SELECT MIN(hcp_id) FROM hcps)", [HUGE])
    settings = trained_settings.with_(database_url=f"duckdb:///{store_file}", cache_dir=root / "cache",
                                      var_dir=root / "var", users_file=write_users_file(root / "users.json"))
    app = create_app(settings, environ={})
    yield app
    app.server.extensions["nba"].service.close()


@pytest.fixture
def real_client(real_app):
    client = real_app.server.test_client()
    sign_in(client, "admin", environ_base={"REMOTE_ADDR": "10.66.0.1"})
    return client


def route(client, pathname: str):
    """The Pages router callback, as the browser calls it to render a page."""
    return client.post(DISPATCH, json=route_payload(pathname))


def call(app, client, output: str, values: list, state_values: list | None = None, changed: str | None = None):
    """Call the registered callback writing ``output`` with these input (and state) values."""
    spec = app.callback_map[output]

    def items(specs, vals):
        out = []
        for s, v in zip(specs, vals):
            cid = json.loads(s["id"]) if s["id"].startswith("{") else s["id"]
            if isinstance(cid, dict):  # pattern ALL: one matching component
                out.append([{"id": {k: (0 if isinstance(w, list) else w) for k, w in cid.items()},
                             "property": s["property"], "value": v}])
            else:
                out.append({"id": cid, "property": s["property"], "value": v})
        return out

    inputs = items(spec["inputs"], values)
    state = items(spec.get("state", []), state_values or [None] * len(spec.get("state", [])))
    first = spec["inputs"][0]
    return client.post(DISPATCH, json={"output": output, "outputs": declared_outputs(output), "inputs": inputs,
                                       "state": state,
                                       "changedPropIds": [changed or f"{first['id']}.{first['property']}"]})


def declared_outputs(output: str):
    """The ``outputs`` a browser sends for a callback's output string (no component matches a pattern)."""
    multi = output.startswith("..")
    specs = []
    for part in output.strip(".").split("...") if multi else [output]:
        cid, prop = part.split("@")[0].rsplit(".", 1)
        specs.append([] if cid.startswith("{") else {"id": cid, "property": prop})
    return specs if multi else specs[0]


@pytest.mark.parametrize("page", ["/channels", "/segments"])
def test_a_20000_character_stored_value_is_answered_cleanly(real_client, page):
    response = route(real_client, page)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "X" * 101 not in body  # never offered to the browser's dropdown
    assert len(body) < 200_000


def test_a_20000_character_filter_value_is_refused_with_a_clear_message(real_app, real_client):
    output = next(o for o in real_app.callback_map if "channels-heatmap" in o)
    response = call(real_app, real_client, output, [[], HUGE, None, None])
    assert response.status_code == 400
    assert response.get_json() == {"error": f"channels-state.value: text longer than {MAX_TEXT_CHARS:,} characters (20,000)"}
    grid = next(o for o in real_app.callback_map if "hcps-grid.getRowsResponse" in o)
    response = call(real_app, real_client, grid, [{"startRow": 0, "endRow": 50}], ["smith" * 100, None, None])
    assert response.status_code == 400 and "hcps-search.value: text longer than 200 characters" in response.get_json()["error"]
    ok = call(real_app, real_client, grid, [{"startRow": 0, "endRow": 50}], ["smith", None, None])
    assert ok.status_code == 200


CONFUSED = [{"a": 1}, ["x", {"b": 2}], HUGE, -5, 1e308 * 10, True, [[1]], "2024-13-45", {"startRow": "x"}, 3.5]


def test_type_confused_callback_inputs_get_4xx_never_500(real_app, real_client, caplog):
    """Every server callback, every input and state position, each confusing value: no 5xx."""
    tried, refused, errors = 0, 0, []
    for output, spec in real_app.callback_map.items():
        if spec.get("callback") is None:
            continue
        positions = len(spec["inputs"]) + len(spec.get("state", []))
        for position in range(positions):
            for value in CONFUSED:
                values = [None] * positions
                values[position] = value
                n_in = len(spec["inputs"])
                response = call(real_app, real_client, output, values[:n_in], values[n_in:])
                tried += 1
                refused += 400 <= response.status_code < 500
                if response.status_code >= 500:
                    errors.append((output[:60], position, repr(value)[:40], response.status_code))
    assert errors == [], f"{len(errors)} of {tried} type-confused calls answered 5xx"
    assert tried >= 59 and refused >= 59
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("output_part, values, expected", [
    ("shell-nav-collapse.is_open", [{"a": 1}, "/"], "shell-nav-toggle.n_clicks: expected a click count"),
    ("channels-heatmap", [{"a": 1}, None, None, None], "channels-specialty.value: expected a text or a number"),
    ("channels-heatmap", [None, None, "not a date", None], "channels-dates.start_date: 'not a date' is not a date"),
    ("segments-preview", [None, None, None, None, "lots"], "segments-minp.value: expected a number from 0 to 1"),
    ("topics-terms", [1, 7], "topics-lambda.value: expected a number from 0 to 1"),
    ("hcp360-history", [{"npi": 1}], "hcp360-id.data: expected a text, got dict"),
])
def test_type_confused_inputs_are_named_in_the_400(real_app, real_client, output_part, values, expected):
    output = next(o for o in real_app.callback_map if output_part in o)
    response = call(real_app, real_client, output, values)
    assert response.status_code == 400 and response.get_json()["error"].startswith(expected)


def test_a_callback_request_that_fits_no_callback_is_400(real_app, real_client):
    response = real_client.post(DISPATCH, json={"output": "nope.children", "inputs": []})
    assert response.status_code == 400 and response.get_json() == {"error": "output: no callback writes 'nope.children'"}
    assert real_client.post(DISPATCH, json=["not", "an", "object"]).status_code == 400
    output = next(o for o in real_app.callback_map if "channels-heatmap" in o)
    wrong_outputs = {"output": output, "outputs": [], "changedPropIds": [],
                     "inputs": [{"id": "channels-specialty", "property": "value", "value": None},
                                {"id": "channels-state", "property": "value", "value": None},
                                {"id": "channels-dates", "property": "start_date", "value": None},
                                {"id": "channels-dates", "property": "end_date", "value": None}]}
    response = real_client.post(DISPATCH, json=wrong_outputs)
    assert response.status_code == 400 and "does not match the callback's declaration" in response.get_json()["error"]
    wrong_inputs = dict(wrong_outputs, outputs=declared_outputs(output))
    wrong_inputs["inputs"] = wrong_inputs["inputs"][::-1]
    response = real_client.post(DISPATCH, json=wrong_inputs)
    assert response.status_code == 400 and "does not match the callback's declaration" in response.get_json()["error"]


def test_every_declared_callback_property_has_a_rule(real_app):
    declared = {s["property"] for spec in real_app.callback_map.values()
                for s in spec["inputs"] + spec.get("state", [])}
    assert declared <= set(PROPERTY_RULES)


@pytest.mark.parametrize("path", ["/_dash-component-suites/dash/nope.js", "/_dash-component-suites/nope/x.js",
                                  "/_dash-component-suites/dash/../../etc/passwd",
                                  "/_dash-component-suites/dash_bootstrap_components/x.v1_0_0m1.js"])
def test_an_unknown_asset_path_is_404_without_a_traceback(real_app, path, caplog):
    caplog.set_level(logging.INFO)
    response = real_app.server.test_client().get(path)  # not signed in: assets are public
    assert response.status_code == 404 and response.get_json() == {"error": "not found"}
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert all(len(r.getMessage()) < 300 for r in caplog.records)


# -- the same under real gunicorn: 2 workers, no SECRET_KEY, as `make run` starts it -------------------
@pytest.fixture(scope="module")
def keyless_server(trained_settings, tmp_path_factory):
    root = tmp_path_factory.mktemp("keyless")
    settings = trained_settings.with_(secret_key=None, var_dir=root / "var")
    server = GunicornServer(settings, write_users_file(root / "users.json"), root / "gunicorn.log", workers=2,
                            extra_env={"LOGIN_LIMIT_GLOBAL": "6 per minute", "LOGIN_LIMIT_IP": "1000 per minute"})
    server.start()
    yield server, settings
    server.stop()


def test_gunicorn_without_secret_key_serves_with_a_generated_key_and_says_where(keyless_server):
    server, settings = keyless_server
    key_file = settings.var_dir / KEY_FILE_NAME
    log = server.log_path.read_text()
    assert f"generated a random session key in {key_file}" in log
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    session = requests_login(server.url, "msl")
    # a new connection per request (keep-alive is off): both workers verify the one cookie
    assert {session.get(server.url + "/_dash-layout", timeout=60).status_code for _ in range(20)} == {200}
    # signed out through one worker, the replayed cookie is refused by both
    kept = session.cookies.get(COOKIE)
    token = re.search(r'name="csrf_token" value="([^"]+)"', session.get(server.url + "/logout", timeout=30).text).group(1)
    assert session.post(server.url + "/logout", data={"csrf_token": token}, allow_redirects=False,
                        timeout=30).status_code == 302
    replay = requests.Session()
    replay.cookies.set(COOKIE, kept)
    assert {replay.get(server.url + "/_dash-layout", timeout=60).status_code for _ in range(20)} == {401}


def _attempt(url: str, name: str, password: str) -> requests.Response:
    session = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', session.get(url + "/login", timeout=30).text).group(1)
    return session.post(url + "/login", data={"username": name, "password": password, "csrf_token": token},
                        allow_redirects=False, timeout=30)


def test_gunicorn_workers_count_the_global_limit_together(keyless_server):
    server, _ = keyless_server
    answers = [_attempt(server.url, f"spray-{k}", "x").status_code for k in range(12)]
    assert answers == [401] * 6 + [429] * 6  # per-worker counting would let more than 6 through
    refused = _attempt(server.url, "brand", TEST_USERS["brand"][1])
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
