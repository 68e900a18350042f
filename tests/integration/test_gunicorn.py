"""The app under real gunicorn (2 gthread workers) on the tiny trained bundle."""
from __future__ import annotations

import concurrent.futures
from pathlib import Path

import pytest
import requests

from tests.fixtures.web import callback_payload, requests_login, route_payload


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


def test_workers_come_loaded_from_the_master_and_serve_without_training_libraries(live_gunicorn):
    """The master loaded and warmed the service before forking (when_ready), so each worker was ready
    at once; the workers served pages that score, plan and read the topics, and word clouds, without
    mapping TensorFlow, gensim or matplotlib (the clouds come rendered with the bundle)."""
    log = live_gunicorn.log_path.read_text(errors="replace")
    assert "master: serving bundle" in log and "loaded and warmed" in log, live_gunicorn.log_tail()
    assert "loading the service failed" not in log and "service warm-up failed" not in log
    session = requests_login(live_gunicorn.url, "msl")
    deps = session.get(live_gunicorn.url + "/_dash-dependencies", timeout=60).json()

    def render(path):
        return session.post(live_gunicorn.url + "/_dash-update-component", json=route_payload(path), timeout=60).status_code

    def cloud(topic):
        body = callback_payload(deps, "topics-cloud", {"topics-select.value": topic}, "topics-select.value")
        response = session.post(live_gunicorn.url + "/_dash-update-component", json=body, timeout=60)
        image = response.json()["response"]["topics-cloud"]["children"]["props"]
        return response.status_code, image.get("src", "").startswith("data:image/png;base64,")

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert set(pool.map(render, ["/worklist", "/topics", "/models", "/"] * 4)) == {200}
        assert set(pool.map(cloud, [0, 1] * 4)) == {(200, True)}
    pids = live_gunicorn.worker_pids()
    assert len(pids) == 2
    for pid in pids:
        maps = Path(f"/proc/{pid}/maps").read_text()
        for library in ("tensorflow", "gensim", "matplotlib", "wordcloud"):
            assert library not in maps, f"worker {pid} mapped {library}"


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
