"""Sign-in in a real browser: each role, role-appropriate navbar, server-side refusals."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.fixtures.web import browser_session, browser_sign_out, console_errors, login, screenshot, wait_for, wait_ready

pytestmark = pytest.mark.e2e

ALL_ROLES_SEE = {"nav-overview", "nav-hcps", "nav-channels", "nav-topics", "nav-segments", "nav-models"}


def nav_ids(browser) -> set[str]:
    return {a.get_attribute("id") for a in browser.find_elements(By.CSS_SELECTOR, "#shell-nav a.nav-link")}


def test_wrong_password_is_refused_with_a_message(browser, live_server):
    browser_sign_out(browser, live_server)
    browser.find_element(By.ID, "login-username").send_keys("msl")
    browser.find_element(By.ID, "login-password").send_keys("not-the-password")
    browser.find_element(By.ID, "login-submit").click()
    assert "Unknown user name or wrong password." in wait_for(browser, "#login-error").text
    screenshot(browser, "login-error")
    # Chrome logs the 401 answer itself as a failed resource; nothing else may appear.
    assert [e["source"] for e in console_errors(browser)] in ([], ["network"])
    browser.get(live_server + "/")
    assert browser.current_url.startswith(live_server + "/login")


@pytest.mark.parametrize("role, sees_admin", [("admin", True), ("brand_manager", False), ("msl", False)])
def test_each_role_signs_in_and_sees_its_links(browser, live_server, role, sees_admin):
    name = login(browser, live_server, role)
    wait_ready(browser)
    assert browser.find_element(By.ID, "shell-user").text == name
    assert browser.find_element(By.ID, "shell-version").text.startswith("Model ")
    links = nav_ids(browser)
    assert ALL_ROLES_SEE <= links
    assert ("nav-admin" in links) is sees_admin
    screenshot(browser, f"overview-{role}")
    assert console_errors(browser) == []


def test_non_admin_is_refused_server_side(browser, live_server):
    login(browser, live_server, "msl")
    browser.get(live_server + "/admin")
    assert "Admins only" in browser.find_element(By.TAG_NAME, "h1").text
    screenshot(browser, "admin-refused-msl")
    # Even a hand-made request for the admin callback, with the MSL's own session, is refused.
    session = browser_session(browser, live_server)
    body = {
        "output": "admin-confirm-reload.displayed",
        "outputs": {"id": "admin-confirm-reload", "property": "displayed"},
        "inputs": [{"id": "admin-reload-btn", "property": "n_clicks", "value": 1}],
        "changedPropIds": ["admin-reload-btn.n_clicks"],
        "state": [],
    }
    response = session.post(live_server + "/_dash-update-component", json=body, timeout=30)
    assert response.status_code == 403
    console_errors(browser)  # the refused /admin document load is logged by Chrome; expected here


def test_logout_returns_to_login_and_ends_the_session(browser, live_server):
    login(browser, live_server, "brand_manager")
    kept = browser.get_cookie("nba_session")
    browser.find_element(By.ID, "shell-logout").click()  # a POST form with the CSRF token
    wait_for(browser, "#login-form")
    browser.get(live_server + "/hcps")
    assert browser.current_url.startswith(live_server + "/login?next=/hcps")
    # the cookie of the ended session, put back, signs nobody in
    browser.add_cookie({"name": kept["name"], "value": kept["value"], "path": "/"})
    browser.get(live_server + "/hcps")
    assert browser.current_url.startswith(live_server + "/login?next=/hcps")
