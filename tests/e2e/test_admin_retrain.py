"""An admin retrains from the Admin page: the progress bar advances, the new version is offered,
reloaded, and served by every worker afterwards. Twice: jobs beside the web workers (diskcache),
and jobs on a Celery worker with Redis (``REDIS_URL`` set)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from engine.bundles import current_version, list_versions, set_current
from engine.config import PROJECT_ROOT
from tests.fixtures.settings import REDIS_URL
from tests.fixtures.web import GunicornServer, console_errors, login, screenshot, settings_env, wait_ready

pytestmark = pytest.mark.e2e

#: Training the tiny world takes ~20 s on an idle machine; a busy shared one may take several times that.
RETRAIN_TIMEOUT_S = 300


def bar_value(browser) -> int | None:
    bars = browser.find_elements(By.CSS_SELECTOR, "#admin-retrain-bar .progress-bar")
    value = bars[0].get_attribute("aria-valuenow") if bars else None
    return int(float(value)) if value not in (None, "") else None


def shell_version(browser) -> str:
    return browser.find_element(By.ID, "shell-version").text


def confirm(browser, button_id: str) -> None:
    browser.find_element(By.ID, button_id).click()
    WebDriverWait(browser, 30, poll_frequency=0.1).until(EC.alert_is_present(), message="the confirmation dialog").accept()


def retrain_and_serve(browser, base_url: str, artifacts: Path, shots: str) -> str:
    """Press Retrain, watch the bar, reload the new version; returns it."""
    before = set(list_versions(artifacts))
    login(browser, base_url, "admin")
    browser.get(base_url + "/admin")
    wait_ready(browser, timeout=120)
    console_errors(browser)
    confirm(browser, "admin-retrain-btn")

    seen, deadline = [], time.monotonic() + RETRAIN_TIMEOUT_S
    while time.monotonic() < deadline and not browser.find_elements(By.ID, "admin-retrain-new-version"):
        value = bar_value(browser)
        if value is not None and (not seen or seen[-1] != value):
            seen.append(value)
            if len(seen) == 3:
                screenshot(browser, f"{shots}-progress")
        assert not browser.find_elements(By.CSS_SELECTOR, "#admin-retrain-result .alert-danger"), \
            browser.find_element(By.ID, "admin-retrain-result").text
        time.sleep(0.2)
    new = browser.find_element(By.ID, "admin-retrain-new-version").text
    assert new and new not in before and new in list_versions(artifacts)
    between = [v for v in seen if 0 < v < 100]
    assert len(set(between)) >= 2 and between == sorted(between), f"progress seen: {seen}"
    WebDriverWait(browser, 30).until(lambda b: "retrain" in b.find_element(By.ID, "admin-audit").text
                                     and new in b.find_element(By.ID, "admin-versions").text,
                                     message="the retrain is audited and its version listed")
    screenshot(browser, f"{shots}-done")

    confirm(browser, "admin-retrain-serve")
    WebDriverWait(browser, 60).until(
        lambda b: b.find_elements(By.ID, "admin-served-version")
        and b.find_element(By.ID, "admin-served-version").text == new, message=f"{new} never served")
    assert shell_version(browser) == f"Model {new}"
    for _ in range(3):  # whichever worker answers serves it
        browser.get(base_url + "/models")
        wait_ready(browser)
        WebDriverWait(browser, 15).until(lambda b: shell_version(b) == f"Model {new}")
    screenshot(browser, f"{shots}-served")
    assert console_errors(browser) == []
    return new


def test_admin_retrains_with_a_live_progress_bar_and_serves_the_new_version(browser, live_server, trained_settings):
    artifacts = trained_settings.artifacts_dir
    original = current_version(artifacts)
    try:
        retrain_and_serve(browser, live_server, artifacts, "admin-retrain")
    finally:
        set_current(artifacts, original)  # the other browser tests expect the fixture's bundle
        browser.get(live_server + "/admin")
        wait_ready(browser)
        confirm(browser, "admin-reload-btn")
        WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.ID, "admin-served-version")
                                         and b.find_element(By.ID, "admin-served-version").text == original)


@pytest.fixture
def celery_site(trained_settings, users_file, tmp_path):
    """gunicorn and a Celery worker with REDIS_URL over a copy of the tiny trained world: (url, settings)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis not reachable at {REDIS_URL}: {exc}")
    shutil.copyfile(trained_settings.database_url.removeprefix("duckdb:///"), tmp_path / "store.duckdb")
    shutil.copytree(trained_settings.artifacts_dir, tmp_path / "artifacts", symlinks=True)
    settings = trained_settings.with_(database_url=f"duckdb:///{tmp_path / 'store.duckdb'}",
                                      artifacts_dir=tmp_path / "artifacts", cache_dir=tmp_path / "cache",
                                      var_dir=tmp_path / "var", redis_url=REDIS_URL)
    server = GunicornServer(settings, users_file, tmp_path / "gunicorn.log")
    env = {**server.env}
    worker_log = open(tmp_path / "celery.log", "wb")
    worker = subprocess.Popen(
        [str(Path(sys.executable).with_name("celery")), "-A", "webapp.worker:celery_app", "worker", "--pool", "solo",
         "--concurrency", "1", "--loglevel", "info"], cwd=PROJECT_ROOT, env={**env, **settings_env(settings)},
        stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        server.start()
        yield server.url, settings
    finally:
        server.stop()
        os.killpg(worker.pid, signal.SIGTERM)  # its own session: the worker and its training child
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        worker_log.close()


def test_with_redis_the_retrain_runs_on_a_celery_worker(browser, celery_site):
    base_url, settings = celery_site
    new = retrain_and_serve(browser, base_url, settings.artifacts_dir, "admin-retrain-celery")
    log = (settings.var_dir.parent / "celery.log").read_text(errors="replace")
    assert "succeeded" in log, log[-2000:]  # the job ran on the Celery worker, not beside the web workers
    assert new
