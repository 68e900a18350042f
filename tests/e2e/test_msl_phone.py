"""An MSL on a phone (390x844): sign in, search "Levy San Francisco", open the HCP, accept the first
action, and find it in the territory's worklist; nothing on the way scrolls or hides sideways."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.e2e.pages_helpers import DESKTOP, PHONE, click, layout_report, set_viewport, wait_until
from tests.fixtures.web import console_errors, login, screenshot, wait_for, wait_ready
from tests.fixtures.world import LEVY

pytestmark = pytest.mark.e2e


def fits(browser, where: str) -> None:
    report = layout_report(browser)
    assert report["scrollWidth"] <= report["clientWidth"], f"{where}: page scrolls sideways: {report['wide'][:3]}"
    assert report["clipped"] == [], f"{where}: content hidden sideways: {report['clipped'][:3]}"


def test_msl_on_a_phone_finds_levy_accepts_and_sees_it_in_the_worklist(browser, live_server):
    set_viewport(browser, *PHONE)
    try:
        login(browser, live_server, "msl")
        console_errors(browser)
        browser.get(live_server + "/hcps")
        wait_ready(browser, timeout=120)
        browser.find_element(By.ID, "hcps-search").send_keys("Levy San Francisco")
        wait_until(browser, lambda d: "1 HCP match" in d.find_element(By.ID, "hcps-count").text,
                   "one match for Levy San Francisco")
        card = wait_for(browser, '#hcps-grid .ag-row[row-index="0"] .hcp-card-cell')
        wait_until(browser, lambda d: LEVY["last_name"] in card.text and "San Francisco, CA" in card.text,
                   "Levy's card with city and state")
        assert "/hcps?q=Levy+San+Francisco" in browser.current_url  # the search is in the address
        fits(browser, "HCP lookup")
        screenshot(browser, "msl-phone-01-search")

        click(browser, card)
        wait_until(browser, lambda d: "/hcp/" in d.current_url, "the HCP 360 page")
        npi = browser.current_url.rstrip("/").rsplit("/", 1)[-1]
        wait_ready(browser)
        first = wait_until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#hcp360-recs .action-card"),
                           "today's action cards")[0]
        title = first.find_element(By.CSS_SELECTOR, ".action-title").text
        assert first.find_elements(By.CSS_SELECTOR, ".action-reasons li")
        fits(browser, "HCP 360")
        screenshot(browser, "msl-phone-02-hcp360")
        click(browser, first.find_element(By.XPATH, './/button[contains(@id, "hcp360-accept")]'))
        wait_until(browser, lambda d: "Accepted" in d.find_element(By.ID, "hcp360-toast").text, "the confirmation")
        screenshot(browser, "msl-phone-03-accepted")

        back = browser.find_element(By.ID, "hcp360-back")
        wait_until(browser, lambda d: back.get_attribute("href").endswith("/hcps?q=Levy+San+Francisco"),
                   "Back to search pointing at the search")
        click(browser, back)  # back to the same search
        wait_until(browser, lambda d: d.find_elements(By.ID, "hcps-search")
                   and d.find_element(By.ID, "hcps-search").get_attribute("value") == "Levy San Francisco",
                   "the search kept by Back to search")

        click(browser, browser.find_element(By.ID, "shell-nav-toggle"))  # the phone's menu
        click(browser, wait_for(browser, "#nav-worklist"))
        wait_ready(browser)
        accepted = wait_until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#worklist-accepted .action-card"),
                              "the accepted action in the worklist")
        mine = [c for c in accepted if c.find_element(By.CSS_SELECTOR, ".action-title").text == title]
        assert mine, f"{title!r} is not among the accepted actions"
        assert mine[0].find_element(By.CSS_SELECTOR, f'a[href="/hcp/{npi}"]').text.endswith(LEVY["last_name"])
        assert "Accepted" in mine[0].find_element(By.CSS_SELECTOR, ".action-state").text
        fits(browser, "worklist")
        screenshot(browser, "msl-phone-04-worklist")
        assert console_errors(browser) == []
    finally:
        set_viewport(browser, *DESKTOP)
