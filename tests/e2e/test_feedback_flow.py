"""Feedback in the browser: a dismissed item is gone after a reload, accepting twice stores one row,
and the brand's feedback report shows both answers."""
from __future__ import annotations

from urllib.parse import unquote

import pytest
from selenium.webdriver.common.by import By

from engine.data.store import Store
from tests.e2e.pages_helpers import click, pick_option, wait_until
from tests.fixtures.web import console_errors, login, screenshot, wait_ready

pytestmark = pytest.mark.e2e


def open_hcp(browser, live_server, hcp_id):
    browser.get(f"{live_server}/hcp/{hcp_id}")
    wait_ready(browser, timeout=120)  # a worker's first request may load the model
    return wait_until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#hcp360-recs .action-card"),
                      "recommendation cards")


def row_item(card):
    """(title, content_id) of a recommendation or plan step card (its title links to the content's page)."""
    link = card.find_element(By.CSS_SELECTOR, ".action-title")
    return link.text, unquote(link.get_attribute("href").rsplit("/", 1)[-1])


def listed_contents(browser) -> set[str]:
    cards = browser.find_elements(By.CSS_SELECTOR, "#hcp360-recs .action-card, #hcp360-plan .action-card")
    return {row_item(c)[1] for c in cards if not c.find_elements(By.CSS_SELECTOR, ".action-state")}


def feedback_rows(browser, title: str) -> list[str]:
    wait_until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#hcp360-feedback-list, #hcp360-feedback-empty"),
               "the feedback section")
    return [r.find_element(By.CSS_SELECTOR, ".feedback-state").text
            for r in browser.find_elements(By.CSS_SELECTOR, "#hcp360-feedback-list .feedback-item")
            if r.find_element(By.CSS_SELECTOR, ".feedback-title").text == title]


def hcps_with_recommendations(browser, live_server, n=2) -> list[str]:
    """NPIs further down the first grid page (the MSL flow uses the first row) that have recommendations."""
    browser.get(live_server + "/hcps")
    wait_ready(browser, timeout=120)
    npis = wait_until(browser, lambda d: [r.get_attribute("row-id") for r in d.find_elements(
        By.CSS_SELECTOR, "#hcps-grid .ag-center-cols-container .ag-row[row-id]")][3:], "NPIs in the grid")
    found = []
    for npi in npis:
        browser.get(f"{live_server}/hcp/{npi}")
        wait_ready(browser, timeout=60)
        if browser.find_elements(By.CSS_SELECTOR, "#hcp360-recs .action-card"):
            found.append(npi)
        if len(found) == n:
            return found
    raise AssertionError(f"fewer than {n} HCPs with recommendations among {npis}")


def test_dismiss_then_reload_accept_twice_and_the_report(browser, live_server, trained_settings):
    login(browser, live_server, "msl")
    dismiss_hcp, accept_hcp = hcps_with_recommendations(browser, live_server)

    # dismiss the top recommendation, then reload: it is gone from today's list and from the plan
    rows = open_hcp(browser, live_server, dismiss_hcp)
    title, content_id = row_item(rows[0])
    assert content_id in listed_contents(browser)
    click(browser, rows[0].find_element(By.XPATH, './/button[contains(@id, "hcp360-dismiss")]'))
    wait_until(browser, lambda d: d.find_element(By.ID, "hcp360-dismiss-confirm").is_displayed(), "the dismiss dialog")
    pick_option(browser, "hcp360-dismiss-reason", "Not relevant")
    # looked up afresh: the dialog may be re-rendered when the reason arrives
    confirm = wait_until(browser, lambda d: d.find_element(By.ID, "hcp360-dismiss-confirm") if d.find_element(
        By.ID, "hcp360-dismiss-confirm").is_enabled() else None, "the Dismiss button to enable")
    click(browser, confirm)
    wait_until(browser, lambda d: feedback_rows(d, title) == ["Dismissed · not suggested"], "the dismissal's state")
    browser.refresh()
    wait_ready(browser, timeout=60)
    wait_until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#hcp360-recs .action-card"), "the new list")
    assert content_id not in listed_contents(browser), "a dismissed item came back after a reload"
    assert feedback_rows(browser, title) == ["Dismissed · not suggested"]
    screenshot(browser, "feedback-01-dismissed-gone")

    # accept the same item twice (two clicks before the first answer arrives): one row
    rows = open_hcp(browser, live_server, accept_hcp)
    title, content_id = row_item(rows[0])
    accept = rows[0].find_element(By.XPATH, './/button[contains(@id, "hcp360-accept")]')
    browser.execute_script("arguments[0].click(); arguments[0].click();", accept)
    wait_until(browser, lambda d: "Accepted" in d.find_element(By.ID, "hcp360-toast").text, "the confirmation")
    wait_until(browser, lambda d: feedback_rows(d, title) == ["Accepted · planned"], "the accepted item's state")
    stored = Store(trained_settings.database_url).query(
        "SELECT COUNT(*) AS n FROM feedback WHERE hcp_id = ? AND content_id = ? AND action = 'accept'",
        [accept_hcp, content_id])
    assert int(stored["n"].iloc[0]) == 1
    browser.refresh()
    wait_ready(browser, timeout=60)
    assert feedback_rows(browser, title) == ["Accepted · planned"]  # one row, shown once
    screenshot(browser, "feedback-02-accepted-once")

    # the brand's report counts both answers
    login(browser, live_server, "brand_manager")
    browser.get(live_server + "/feedback")
    wait_ready(browser, timeout=60)
    assert int(browser.find_element(By.ID, "feedback-accepted").text) >= 1
    assert int(browser.find_element(By.ID, "feedback-dismissed").text) >= 1
    reasons = browser.find_element(By.ID, "feedback-reasons").text
    assert "Not relevant to HCP's practice" in reasons
    assert browser.find_element(By.ID, "feedback-by-channel").text and title[:20] in \
        browser.find_element(By.ID, "feedback-by-content").text
    screenshot(browser, "feedback-03-report")


def test_the_feedback_report_is_not_for_msls(browser, live_server):
    login(browser, live_server, "msl")
    assert "nav-feedback" not in browser.page_source
    browser.get(live_server + "/feedback")  # refused on the server: the page declares its roles
    wait_until(browser, lambda d: "Brand managers and admins only" in d.find_element(By.TAG_NAME, "h1").text,
               "the refusal")
    console_errors(browser)  # the refused document load (403) is logged by Chrome; expected here


def test_an_msl_dismisses_a_worklist_action_with_a_reason_and_it_leaves_the_list(browser, live_server,
                                                                               trained_settings):
    login(browser, live_server, "msl")
    browser.get(live_server + "/worklist")
    wait_ready(browser, timeout=120)

    def suggested(d):
        return [(c.find_element(By.CSS_SELECTOR, ".action-title").text,
                 c.find_element(By.CSS_SELECTOR, 'a[href^="/hcp/"]').get_attribute("href").rsplit("/", 1)[-1])
                for c in d.find_elements(By.CSS_SELECTOR, "#worklist-actions .action-card")]

    title, hcp_id = wait_until(browser, suggested, "the suggested actions")[0]
    first = browser.find_element(By.CSS_SELECTOR, "#worklist-actions .action-card")
    name = first.find_element(By.CSS_SELECTOR, 'a[href^="/hcp/"]').text
    click(browser, first.find_element(By.XPATH, './/button[contains(@id, "worklist-dismiss")]'))
    wait_until(browser, lambda d: d.find_element(By.ID, "worklist-dismiss-confirm").is_displayed(),
               "the dismiss dialog")
    assert browser.find_element(By.ID, "worklist-dismiss-title").text.splitlines() == [title, f"For {name}"]
    assert not browser.find_element(By.ID, "worklist-dismiss-confirm").is_enabled(), "a reason is required"
    pick_option(browser, "worklist-dismiss-reason", "Content outdated")
    browser.find_element(By.ID, "worklist-dismiss-text").send_keys("superseded by the 2026 label")
    confirm = wait_until(browser, lambda d: d.find_element(By.ID, "worklist-dismiss-confirm") if d.find_element(
        By.ID, "worklist-dismiss-confirm").is_enabled() else None, "the Dismiss button to enable")
    screenshot(browser, "feedback-04-worklist-dismiss-dialog")
    click(browser, confirm)
    wait_until(browser, lambda d: "Dismissed" in d.find_element(By.ID, "worklist-toast").text, "the confirmation")
    wait_until(browser, lambda d: (title, hcp_id) not in suggested(d), "the dismissed action to leave the list")
    stored = Store(trained_settings.database_url).query(
        "SELECT reason FROM feedback WHERE hcp_id = ? AND action = 'dismiss'", [hcp_id])
    assert "Content outdated: superseded by the 2026 label" in list(stored["reason"])
    screenshot(browser, "feedback-05-worklist-after-dismiss")
