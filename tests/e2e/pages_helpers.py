"""Browser helpers shared by the page flows (Dash 4 dropdowns, plotly figures, waits)."""
from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def wait_until(driver, condition, message: str, timeout: float = 30):
    """Poll ``condition(driver)`` until truthy; the failure names what was awaited."""
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition, message=message)


def pick_option(driver, dropdown_id: str, text: str | None = None, index: int = 0) -> str:
    """Open a dcc.Dropdown and click the option whose text starts with ``text`` (else the ``index``-th)."""
    driver.find_element(By.ID, dropdown_id).click()
    options = wait_until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "[role=option]"),
                         f"options of #{dropdown_id}", timeout=10)
    option = next((o for o in options if o.text.strip().startswith(text)), None) if text else options[index]
    assert option is not None, f"#{dropdown_id}: no option starting with {text!r}"
    label = option.text.strip()
    option.click()
    dropdown = driver.find_element(By.ID, dropdown_id)
    if dropdown.get_attribute("aria-expanded") == "true":  # a multi-select stays open: toggle it closed
        dropdown.click()
    return label


def figure(driver, graph_id: str) -> dict:
    """The data and layout plotly is drawing in ``#graph_id`` (empty dict while not drawn)."""
    return driver.execute_script(
        "const gd = document.querySelector(arguments[0] + ' .js-plotly-plot');"
        "return gd && gd.data ? {data: gd.data.map(t => ({x: t.x, y: t.y, name: t.name, type: t.type})),"
        " title: (gd.layout.title && gd.layout.title.text) || ''} : {};", f"#{graph_id}") or {}
