"""The admin flow in a real browser: reload a new bundle, see it in the shell, roll back."""
from __future__ import annotations

import shutil

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from engine.bundles import current_version, set_current
from tests.fixtures.web import console_errors, copy_bundle, login, screenshot, wait_for, wait_ready

pytestmark = pytest.mark.e2e


def confirm_and_wait(browser, button_id: str, expected_version: str):
    browser.find_element(By.ID, button_id).click()
    WebDriverWait(browser, 30, poll_frequency=0.1).until(EC.alert_is_present(), message="the confirmation dialog").accept()
    served = WebDriverWait(browser, 60).until(
        lambda b: b.find_elements(By.ID, "admin-served-version") and b.find_element(By.ID, "admin-served-version").text == expected_version and b.find_element(By.ID, "admin-served-version"),
        message=f"admin page never showed version {expected_version}",
    )
    return served


def shell_version(browser) -> str:
    return browser.find_element(By.ID, "shell-version").text


def test_admin_reloads_a_new_bundle_and_rolls_back(browser, live_server, trained_settings):
    artifacts = trained_settings.artifacts_dir
    original = current_version(artifacts)
    newer = copy_bundle(artifacts, original)
    set_current(artifacts, newer)  # what a training run does: new bundle, `current` moved
    try:
        try:
            login(browser, live_server, "admin")
        except Exception:
            screenshot(browser, "admin-login-failed")
            raise
        browser.get(live_server + "/admin")
        wait_ready(browser)
        wait_for(browser, "#admin-versions")
        WebDriverWait(browser, 15).until(lambda b: newer in b.find_element(By.ID, "admin-versions").text, message=f"{newer} not listed")
        screenshot(browser, "admin-before-reload")

        confirm_and_wait(browser, "admin-reload-btn", newer)  # no version chosen: reload `current`
        assert shell_version(browser) == f"Model {newer}"
        screenshot(browser, "admin-after-reload")
        # Every worker follows the shared pointer: page loads (either worker) show the new version.
        for _ in range(3):
            browser.get(live_server + "/models")
            wait_ready(browser)
            WebDriverWait(browser, 15).until(lambda b: shell_version(b) == f"Model {newer}")

        browser.get(live_server + "/admin")
        wait_ready(browser)
        confirm_and_wait(browser, "admin-rollback-btn", original)
        assert shell_version(browser) == f"Model {original}"
        audit = browser.find_element(By.ID, "admin-audit").text
        assert "reload" in audit and "rollback" in audit and "admin" in audit
        screenshot(browser, "admin-after-rollback")
        assert console_errors(browser) == []
    finally:
        set_current(artifacts, original)
        shutil.rmtree(artifacts / newer, ignore_errors=True)
