"""The app under real gunicorn (2 gthread workers) on the tiny trained bundle."""
from __future__ import annotations

import concurrent.futures
from pathlib import Path

import pytest
import requests

from tests.fixtures.web import requests_login, route_payload


def test_login_page_and_headers(live_server):
    response = requests.get(live_server + "/login", timeout=30)
    assert response.status_code == 200
    assert 'id="login-form"' in response.text
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert requests.get(live_server + "/", allow_redirects=False, timeout=30).status_code == 302


def test_signed_in_page_load_and_callback(live_server):
    session = requests_login(live_server, "brand")
    index = session.get(live_server + "/channels", timeout=30)
    assert index.status_code == 200 and "_dash-config" in index.text
    layout = session.get(live_server + "/_dash-layout", timeout=60).json()
    assert "shell-version" in str(layout) and "brand" in str(layout)
    # The Pages router callback renders the page content, as the browser does after load.
    def route(pathname):
        response = session.post(live_server + "/_dash-update-component", json=route_payload(pathname), timeout=60)
        assert response.status_code == 200, response.text[:500]
        return response.json()["response"]

    assert route("/channels")["_pages_store"]["data"]["title"].startswith("Channel")
    assert "not-found-ready" in str(route("/no-such-page"))


def test_workers_serve_without_tensorflow_or_gensim(live_gunicorn):
    """Each worker loaded the bundle at boot (post_worker_init) and served pages that score, plan
    and read the topics; none of them mapped TensorFlow's or gensim's libraries."""
    session = requests_login(live_gunicorn.url, "msl")

    def render(path):
        return session.post(live_gunicorn.url + "/_dash-update-component", json=route_payload(path), timeout=60).status_code

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert set(pool.map(render, ["/worklist", "/topics", "/models", "/"] * 4)) == {200}
    pids = live_gunicorn.worker_pids()
    assert len(pids) == 2
    for pid in pids:
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "tensorflow" not in maps and "gensim" not in maps, f"worker {pid} mapped TensorFlow or gensim"


def test_both_workers_answer_concurrent_requests(live_server):
    session = requests_login(live_server, "msl")

    def fetch(_):
        return session.get(live_server + "/_dash-layout", timeout=60).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert set(pool.map(fetch, range(16))) == {200}


@pytest.mark.parametrize("path", ["/_dash-layout", "/_dash-dependencies"])
def test_api_needs_sign_in(live_server, path):
    response = requests.get(live_server + path, timeout=30)
    assert response.status_code == 401 and response.json()["login"] == "/login"
