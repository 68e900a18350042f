"""Brand flow: filter channel effectiveness, pick a topic, export a target list as CSV."""
from __future__ import annotations

import csv
import io
import time

import pytest
from selenium.webdriver.common.by import By

from tests.e2e.pages_helpers import figure, pick_option, wait_until
from tests.fixtures.web import login, screenshot, wait_ready

pytestmark = pytest.mark.e2e


def test_brand_manager_filters_explores_and_exports(browser, live_server, tmp_path):
    login(browser, live_server, "brand_manager")

    browser.get(live_server + "/channels")
    wait_ready(browser, timeout=120)  # a worker's first request may load the model
    every = wait_until(browser, lambda d: figure(d, "channels-heatmap").get("data"), "the heatmap")
    specialty = pick_option(browser, "channels-specialty", index=0)
    heat = wait_until(browser, lambda d: (f := figure(d, "channels-heatmap").get("data")) and f[0]["x"] == [specialty]
                      and f, f"the heatmap filtered to {specialty!r}")
    assert len(every[0]["x"]) >= len(heat[0]["x"])
    assert figure(browser, "channels-trend")["data"] and figure(browser, "channels-volume")["data"]
    screenshot(browser, "brand-01-channels")

    browser.get(live_server + "/topics")
    wait_ready(browser)
    picked = pick_option(browser, "topics-select", index=1)
    topic_id = picked.split(":", 1)[0]
    wait_until(browser, lambda d: figure(d, "topics-terms").get("title", "").startswith(f"Topic {topic_id} "),
               f"the term bars of topic {topic_id}")
    wait_until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#topics-cloud img, #topics-docs li"),
               "the word cloud and documents")
    # one snapshot of the links: the list may still be re-rendered by a late callback
    links = browser.execute_script(
        "return [...document.querySelectorAll('#topics-docs a')].map(a => [a.href, a.rel, a.target]);")
    for href, rel, target in links:
        if href.startswith(live_server):  # a title: the content's page on this site
            assert href.startswith(live_server + "/content/")
        else:  # the record on PubMed, opened safely
            assert href.startswith("https://pubmed.ncbi.nlm.nih.gov/")
            assert rel == "noopener noreferrer" and target == "_blank"
    screenshot(browser, "brand-02-topics")

    browser.get(live_server + "/segments")
    wait_ready(browser)
    wait_until(browser, lambda d: "HCPs in this target list" in d.find_element(By.ID, "segments-count").text,
               "the target-list preview")
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser.find_element(By.ID, "segments-export").click()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(tmp_path.glob("target-list-*.csv")):
        time.sleep(0.2)
    files = list(tmp_path.glob("target-list-*.csv"))
    assert files, "the CSV download did not arrive"
    rows = list(csv.DictReader(io.StringIO(files[0].read_text())))
    assert rows and {"NPI", "Name", "Content", "Channel", "Likely to engage (%)", "Why"} <= set(rows[0])
    assert all(row["Why"] for row in rows)
    assert not any(str(v).startswith(("=", "+", "@")) for row in rows for v in row.values())
    screenshot(browser, "brand-03-segments")
