"""An admin retrains from the Admin page: the progress bar advances, the new version is offered,
reloaded, and served by every worker afterwards."""
from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from engine.bundles import current_version, list_versions, set_current
from tests.fixtures.web import console_errors, login, screenshot, wait_ready

pytestmark = pytest.mark.e2e

#: Training the tiny world takes ~20 s on an idle machine; a busy shared one may take several times that.
RETRAIN_TIMEOUT_S = 300


def bar_value(browser) -> int | None:
    bars = browser.find_elements(By.CSS_SELECTOR, "#admin-retrain-bar .progress-bar")
    value = bars[0].get_attribute("aria-valuenow") if bars else None
    return int(float(value)) if value not in (None, "") else None


def shell_version(browser) -> str:
    return browser.find_element(By.ID, "shell-version").text


def test_admin_retrains_with_a_live_progress_bar_and_serves_the_new_version(browser, live_server, trained_settings):
    artifacts = trained_settings.artifacts_dir
    original = current_version(artifacts)
    before = set(list_versions(artifacts))
    login(browser, live_server, "admin")
    browser.get(live_server + "/admin")
    wait_ready(browser, timeout=120)
    console_errors(browser)
    try:
        browser.find_element(By.ID, "admin-retrain-btn").click()
        WebDriverWait(browser, 10).until(EC.alert_is_present()).accept()

        seen, deadline = [], time.monotonic() + RETRAIN_TIMEOUT_S
        while time.monotonic() < deadline and not browser.find_elements(By.ID, "admin-retrain-new-version"):
            value = bar_value(browser)
            if value is not None and (not seen or seen[-1] != value):
                seen.append(value)
                if len(seen) == 3:
                    screenshot(browser, "admin-retrain-progress")
            assert not browser.find_elements(By.CSS_SELECTOR, "#admin-retrain-result .alert-danger"), \
                browser.find_element(By.ID, "admin-retrain-result").text
            time.sleep(0.2)
        new = browser.find_element(By.ID, "admin-retrain-new-version").text
        assert new and new not in before and new in list_versions(artifacts)
        between = [v for v in seen if 0 < v < 100]
        assert len(set(between)) >= 2 and between == sorted(between), f"progress seen: {seen}"
        print(f"progress seen: {seen}")
        WebDriverWait(browser, 30).until(lambda b: "retrain" in b.find_element(By.ID, "admin-audit").text
                                         and new in b.find_element(By.ID, "admin-versions").text,
                                         message="the retrain is audited and its version listed")
        screenshot(browser, "admin-retrain-done")

        browser.find_element(By.ID, "admin-retrain-serve").click()
        WebDriverWait(browser, 10).until(EC.alert_is_present()).accept()
        WebDriverWait(browser, 60).until(
            lambda b: b.find_elements(By.ID, "admin-served-version")
            and b.find_element(By.ID, "admin-served-version").text == new, message=f"{new} never served")
        assert shell_version(browser) == f"Model {new}"
        for _ in range(3):  # whichever worker answers serves it
            browser.get(live_server + "/models")
            wait_ready(browser)
            WebDriverWait(browser, 15).until(lambda b: shell_version(b) == f"Model {new}")
        screenshot(browser, "admin-retrain-served")
        assert console_errors(browser) == []
    finally:
        set_current(artifacts, original)  # the other browser tests expect the fixture's bundle
        browser.get(live_server + "/admin")
        wait_ready(browser)
        browser.find_element(By.ID, "admin-reload-btn").click()
        WebDriverWait(browser, 10).until(EC.alert_is_present()).accept()
        WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.ID, "admin-served-version")
                                         and b.find_element(By.ID, "admin-served-version").text == original)
