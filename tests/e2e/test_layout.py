"""Every page, for every role, on the MSL's phone (390x844) and a desktop (1440x900): the page never
scrolls sideways, the console stays clean, and on the MSL's pages no table, grid or box hides
content sideways. Screenshots: test-output/screenshots/layout-<role>-<width>-<page>.png."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from engine.data.store import Store
from tests.e2e.pages_helpers import DESKTOP, PHONE, layout_report, set_viewport
from tests.fixtures.web import console_errors, login, screenshot, wait_ready

pytestmark = pytest.mark.e2e

#: The MSL's pages: nothing may hide sideways there on a phone.
MSL_PAGES = ("/hcps", "/hcp/", "/worklist")


def page_paths(browser, base_url: str, settings) -> list[str]:
    """The role's navbar pages, plus an HCP 360, a content page and a search in the address."""
    paths = [a.get_attribute("href").removeprefix(base_url) or "/"
             for a in browser.find_elements(By.CSS_SELECTOR, "#shell-nav a.nav-link")]
    store = Store(settings.database_url)
    hcp_id = store.query("SELECT hcp_id FROM interactions GROUP BY hcp_id ORDER BY COUNT(*) DESC, hcp_id LIMIT 1")[
        "hcp_id"].iloc[0]
    content_id = store.query("SELECT content_id FROM contents ORDER BY content_id LIMIT 1")["content_id"].iloc[0]
    return paths + [f"/hcp/{hcp_id}", f"/content/{content_id}", "/hcps?q=Levy%20San%20Francisco"]


@pytest.mark.parametrize("role", ["msl", "brand_manager", "admin"])
def test_every_page_fits_the_phone_and_the_desktop(browser, live_server, trained_settings, role):
    problems = {}
    try:
        for width, height in (PHONE, DESKTOP):
            set_viewport(browser, width, height)
            login(browser, live_server, role)
            paths = page_paths(browser, live_server, trained_settings)
            assert "/worklist" in paths or role != "msl", "the MSL's navbar lists the worklist"
            console_errors(browser)
            for path in paths:
                browser.get(live_server + path)
                wait_ready(browser, timeout=60)
                browser.execute_script("return new Promise(r => setTimeout(r, 600))")  # charts and grids settle
                report = layout_report(browser)
                name = path.strip("/").replace("/", "-").replace("?", "-").replace("%20", "_").replace("=", "_")
                screenshot(browser, f"layout-{role}-{width}-{name or 'overview'}")
                found = []
                if report["scrollWidth"] > min(report["viewport"], report["clientWidth"]):
                    found.append(f"page {report['scrollWidth']} px wide in {report['clientWidth']} px: "
                                 f"{report['wide'][:3]}")
                if width == PHONE[0] and path.startswith(MSL_PAGES) and report["clipped"]:
                    found.append(f"hidden sideways: {report['clipped'][:3]}")
                errors = [e["message"][:200] for e in console_errors(browser)]
                if errors:
                    found.append(f"console: {errors}")
                if found:
                    problems[f"{width} {path}"] = found
    finally:
        set_viewport(browser, *DESKTOP)
    assert problems == {}
