"""Every registered page, as admin: it becomes usable and the browser console stays clean."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from engine.data.store import Store
from tests.fixtures.web import console_errors, login, screenshot, wait_ready

pytestmark = pytest.mark.e2e


def test_every_page_loads_without_console_errors(browser, live_server, trained_settings):
    login(browser, live_server, "admin")
    console_errors(browser)
    paths = [a.get_attribute("href").removeprefix(live_server) or "/" for a in browser.find_elements(By.CSS_SELECTOR, "#shell-nav a.nav-link")]
    hcp_id = Store(trained_settings.database_url).query("SELECT hcp_id FROM hcps ORDER BY hcp_id LIMIT 1")["hcp_id"].iloc[0]
    paths += [f"/hcp/{hcp_id}", "/hcp/0000000000", "/no-such-page"]
    assert len(paths) >= 10
    problems = {}
    for path in paths:
        browser.get(live_server + path)
        wait_ready(browser, timeout=60)
        name = path.strip("/").replace("/", "-") or "overview"
        screenshot(browser, f"page-{name}")
        errors = console_errors(browser)
        if errors:
            problems[path] = [e["message"][:300] for e in errors]
    assert problems == {}
