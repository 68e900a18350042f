"""MSL flow: search an HCP by name, open the 360 view, read recommendations and forecast, dismiss one."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.e2e.pages_helpers import click, figure, pick_option, wait_until
from tests.fixtures.web import login, screenshot, wait_for, wait_ready

pytestmark = pytest.mark.e2e


def test_msl_finds_an_hcp_and_dismisses_a_recommendation(browser, live_server):
    login(browser, live_server, "msl")
    browser.get(live_server + "/hcps")
    wait_ready(browser, timeout=120)  # a worker's first request may load the model
    first_name_cell = wait_for(browser, '#hcps-grid .ag-row[row-index="0"] [col-id="name"]')
    wait_until(browser, lambda d: first_name_cell.text.strip(), "a name in the first grid row")
    last_name = first_name_cell.text.split()[-1]
    total_before = browser.find_element(By.ID, "hcps-count").text

    browser.find_element(By.ID, "hcps-search").send_keys(last_name)
    wait_until(browser, lambda d: "match" in d.find_element(By.ID, "hcps-count").text,
               f"the grid to show the matches of {last_name!r}")
    assert browser.find_element(By.ID, "hcps-count").text != total_before
    name_cell = wait_for(browser, '#hcps-grid .ag-row[row-index="0"] [col-id="name"]')
    wait_until(browser, lambda d: last_name.lower() in name_cell.text.lower(), "a matching first row")
    screenshot(browser, "msl-01-search")

    name_cell.click()
    wait_until(browser, lambda d: "/hcp/" in d.current_url, "navigation to the HCP 360 page")
    npi = browser.current_url.rstrip("/").rsplit("/", 1)[-1]
    wait_ready(browser)
    assert npi in browser.find_element(By.TAG_NAME, "body").text

    rows = wait_until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#hcp360-recs .action-card"),
                      "recommendation cards")
    reasons = rows[0].find_elements(By.CSS_SELECTOR, "li")
    assert reasons and all(r.text.strip() for r in reasons), "every recommendation shows its reasons"
    forecast = wait_until(browser, lambda d: figure(d, "hcp360-forecast").get("data"), "the journey forecast")
    assert len(forecast) >= 2  # interval bar + median marker per step
    screenshot(browser, "msl-02-hcp360")

    title = rows[0].find_element(By.CSS_SELECTOR, ".action-title").text
    click(browser, rows[0].find_element(By.XPATH, './/button[contains(@id, "hcp360-dismiss")]'))
    wait_until(browser, lambda d: d.find_element(By.ID, "hcp360-dismiss-confirm").is_displayed(), "the dismiss dialog")
    confirm = browser.find_element(By.ID, "hcp360-dismiss-confirm")
    assert not confirm.is_enabled(), "a reason is required before dismissing"
    pick_option(browser, "hcp360-dismiss-reason", "Already discussed")
    browser.find_element(By.ID, "hcp360-dismiss-text").send_keys("Discussed at the <b>May</b> congress")
    # looked up afresh: the dialog may be re-rendered when the reason arrives
    wait_until(browser, lambda d: d.find_element(By.ID, "hcp360-dismiss-confirm").is_enabled(),
               "the Dismiss button to enable")
    confirm = browser.find_element(By.ID, "hcp360-dismiss-confirm")
    screenshot(browser, "msl-03-dismiss-dialog")
    confirm.click()

    toast = wait_until(browser, lambda d: d.find_element(By.ID, "hcp360-toast") if "Dismissed" in
                       d.find_element(By.ID, "hcp360-toast").text else None, "the confirmation toast")
    assert title[:30] in toast.text
    dismissed = rows[0].find_element(By.XPATH, './/button[contains(@id, "hcp360-dismiss")]')
    wait_until(browser, lambda d: not dismissed.is_enabled(), "the answered recommendation to lock")
    screenshot(browser, "msl-04-toast")


def test_unknown_npi_shows_a_friendly_page(browser, live_server):
    login(browser, live_server, "msl")
    browser.get(live_server + "/hcp/0000000000")
    wait_ready(browser, timeout=120)
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "HCP not found" in body and "Traceback" not in body
    screenshot(browser, "msl-05-not-found")
