"""Browser helpers shared by the page flows (Dash 4 dropdowns, plotly figures, waits)."""
from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def wait_until(driver, condition, message: str, timeout: float = 30):
    """Poll ``condition(driver)`` until truthy; the failure names what was awaited."""
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition, message=message)


#: True while a CSS transition or animation runs on the element or a box around it (a dialog sliding in).
_MOVING = ("for (let e = arguments[0]; e; e = e.parentElement) {"
           " if (e.getAnimations().some(a => a.playState === 'running')) { return true; } } return false;")


def wait_settled(driver, element, what: str):
    """Wait until nothing moves ``element`` any more: a pointer click computed during a dialog's slide-in
    lands where the element was, not where it is."""
    return wait_until(driver, lambda d: not d.execute_script(_MOVING, element), f"{what} to stop moving")


def pick_option(driver, dropdown_id: str, text: str | None = None, index: int = 0) -> str:
    """Open a dcc.Dropdown and click the option whose text starts with ``text`` (else the ``index``-th);
    returns once the dropdown shows the picked label."""
    wait_settled(driver, driver.find_element(By.ID, dropdown_id), f"#{dropdown_id}")
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
    wait_until(driver, lambda d: label in d.find_element(By.ID, dropdown_id).text,
               f"#{dropdown_id} to show the picked {label!r}", timeout=10)
    return label


def figure(driver, graph_id: str) -> dict:
    """The data and layout plotly is drawing in ``#graph_id`` (empty dict while not drawn)."""
    return driver.execute_script(
        "const gd = document.querySelector(arguments[0] + ' .js-plotly-plot');"
        "return gd && gd.data ? {data: gd.data.map(t => ({x: t.x, y: t.y, name: t.name, type: t.type})),"
        " title: (gd.layout.title && gd.layout.title.text) || ''} : {};", f"#{graph_id}") or {}


#: Phone (the MSL's) and desktop viewports of the layout checks.
PHONE = (390, 844)
DESKTOP = (1440, 900)

_LAYOUT_SCRIPT = """
const viewport = window.innerWidth;
const clientWidth = document.documentElement.clientWidth;
const clipped = [];
for (const el of document.querySelectorAll('body *')) {
    if (!el.offsetParent && el.tagName !== 'BODY') { continue; }  // not displayed
    const style = getComputedStyle(el);
    if (style.overflowX === 'visible' || el.clientWidth === 0) { continue; }
    if (el.closest('.js-plotly-plot, .modal:not(.show), .dash-dropdown, .Select-menu-outer')) { continue; }
    const hidden = el.scrollWidth - el.clientWidth;
    if (hidden > 1) {
        clipped.push({element: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                      (typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\\s+/).slice(0, 3).join('.') : ''),
                      hidden: hidden, width: el.clientWidth, text: (el.innerText || '').slice(0, 60)});
    }
}
const wide = [];
for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > clientWidth + 1 && !el.closest('.js-plotly-plot') && wide.length < 10) {
        wide.push({element: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                   (typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\s+/).slice(0, 3).join('.') : ''),
                   right: Math.round(box.right)});
    }
}
return {viewport: viewport, clientWidth: clientWidth, scrollWidth: document.documentElement.scrollWidth,
        clipped: clipped, wide: wide};
"""


def layout_report(driver) -> dict:
    """``{viewport, clientWidth, scrollWidth, clipped, wide}``: the page's width against the window's
    (``innerWidth``) and against its width without the scroll bar (``clientWidth``); every box
    (table wrapper, grid viewport, card, cell) whose content is wider than the box (hidden sideways
    or behind a horizontal scroll bar), plotly's drawing and closed menus left out; and the first
    elements reaching past the window's right edge (what makes the page scroll sideways)."""
    return driver.execute_script(_LAYOUT_SCRIPT)


def set_viewport(driver, width: int, height: int) -> None:
    """Resize the window so that the page's viewport (``innerWidth``) is ``width`` pixels wide."""
    driver.set_window_size(width, height)
    inner = driver.execute_script("return window.innerWidth;")
    if inner != width:  # window chrome (scroll bar, borders) takes the difference
        driver.set_window_size(width + (width - inner), height)


def click(driver, element) -> None:
    """Scroll ``element`` to the middle of the window and click it there (long pages put it below the
    fold, where the fixed top bar and a loading overlay can take a pointer click)."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", element)
