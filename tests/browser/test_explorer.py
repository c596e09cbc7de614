"""The explorer in a real browser: Debian's chromium, headless, driven by Selenium through chromedriver.

A devnet started here (tests/helpers/devnet.py) serves the page at ``GET /``; the test deploys the
token and a contract that emits an event named ``<img src=x onerror=alert(1)>``, sends a transfer
with the page open, and checks in the page: the block appears without a reload, the transaction shows
its decoded Transfer event, its call trace and its flame chart, the token's page shows the new balance
in its storage, the search finds dev1, snapshot and revert work from the controls, the hostile name is
text, the layout fits 390 px, and the browser's console has no error.

Screenshots (1280 and 390 px wide) go to a folder the test prints: under pytest's temporary folder,
or ``$WASMCHAIN_SCREENSHOTS`` when set. Without chromium, chromedriver or selenium the test skips,
unless ``WASMCHAIN_REQUIRE_BROWSER=1`` (CI), where it fails.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from tests.helpers import ROOT
from tests.helpers.devnet import Devnet, start_devnet, start_listening

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
TOKEN = ROOT / "contracts" / "token" / "token.wasm"
WAIT = 20.0

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_DATA = "<script>alert(2)</script>"
# A contract whose method `shout` emits an event named HOSTILE_NAME with HOSTILE_DATA as its data (a
# msgpack string: 0xb9 and 25 bytes).
HOSTILE_WAT = f"""
(module
  (import "wasmchain" "event_emit" (func $emit (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "{HOSTILE_NAME}")
  (data (i32.const 64) "\\b9{HOSTILE_DATA}")
  (func (export "shout")
    (call $emit (i32.const 0) (i32.const {len(HOSTILE_NAME)}) (i32.const 64) (i32.const {1 + len(HOSTILE_DATA)}))))
"""


def _require_browser() -> None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[test]')")
    if missing:
        message = (
            f"no browser to test the explorer in: missing {', '.join(missing)} "
            "(apt-get install chromium chromium-driver)"
        )
        if os.environ.get("WASMCHAIN_REQUIRE_BROWSER") == "1":
            pytest.fail(message + "; WASMCHAIN_REQUIRE_BROWSER=1 makes this a failure")
        pytest.skip(message)


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    node = start_devnet(tmp_path / "data")
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("WASMCHAIN_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("explorer-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nexplorer screenshots: {folder}")
    return folder


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_script_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


# -- helpers --------------------------------------------------------------------------------------------


def _wait(what: str, condition: Callable[[], Any], timeout: float = WAIT) -> Any:
    """Poll ``condition()`` (errors count as not yet) until it is true; return it."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception as error:  # an element not there yet, or replaced while read
            value, last = None, error
        else:
            last = value
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def _texts(driver: Any, selector: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, selector)]


def _view_text(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.ID, "view").text)


def _width(driver: Any, width: int) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 900 if width > 600 else 844, "deviceScaleFactor": 1, "mobile": width <= 600},
    )


def _shot(driver: Any, folder: Path, name: str) -> Path:
    """The whole page (up to 4000 px tall) as a PNG."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 4000), "scale": 1}
    data = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path = folder / f"{name}.png"
    path.write_bytes(base64.b64decode(data["data"]))
    return path


def _go(driver: Any, route: str) -> None:
    """Follow an in-page route (a hash change: no reload)."""
    driver.execute_script("location.hash = arguments[0]", route)


def _no_horizontal_scroll(driver: Any, width: int) -> None:
    scroll = driver.execute_script("return document.documentElement.scrollWidth")
    assert scroll <= width + 1, f"the page is {scroll} px wide at a {width} px viewport"


# -- the test -------------------------------------------------------------------------------------------


def test_the_explorer_in_chromium(devnet: Devnet, browser: Any, screenshots: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    client = devnet.client()
    dev0, dev1 = client.dev_account(0), client.dev_account(1)
    dev1_address = dev1.address
    token = dev0.deploy(TOKEN, "init", {"supply": 1_000_000})
    token_address = token.address
    hostile = dev0.deploy(bytes(wasmtime.wat2wasm(HOSTILE_WAT)))
    hostile_tx = hostile.call("shout", sender=dev0).tx_hash

    # The page, from the node itself (GET /), live before the transfer is sent.
    browser.get(devnet.url + "/")
    live = browser.find_element(By.ID, "live")
    _wait("the live subscription", lambda: live.text == "live")
    head = client.head().height
    _wait("the head in the header", lambda: browser.find_element(By.ID, "head").text == f"head #{head}")
    browser.execute_script("window.__notReloaded = true")

    transfer = token.call("transfer", {"to": dev1_address, "amount": 250}, sender=dev0)
    height = transfer.block_height
    assert height == head + 1
    _wait(f"block #{height} on the home page", lambda: f"#{height}" in _texts(browser, "table.blocks a"))
    tx_link = _wait(
        "the transfer in the latest transactions",
        lambda: browser.find_element(By.CSS_SELECTOR, f'table.txs a[href="#/tx/{transfer.tx_hash}"]'),
    )
    assert browser.execute_script("return window.__notReloaded === true"), "the page reloaded"
    _shot(browser, screenshots, "home-1280")

    # The transaction: its decoded Transfer event, its trace as a tree and its flame chart.
    tx_link.click()
    _wait("the transaction's events", lambda: "Transfer" in _texts(browser, "li.event .event-name"))
    event = browser.find_element(By.CSS_SELECTOR, "li.event").text
    assert "transfer" in event  # its data type, from the token's interface
    assert "amount" in event and "250" in event and dev1_address in event, event
    frames = _wait("the call trace", lambda: _texts(browser, ".trace-tree li.frame summary"))
    assert "::transfer" in frames[0] and "ok" in frames[0], frames
    steps = _texts(browser, ".trace-tree li.step")
    assert any(step.startswith("storage_write") and "250" in step for step in steps), steps
    assert any(step.startswith("event") and "Transfer" in step for step in steps), steps
    bars = _wait("the flame chart", lambda: browser.find_elements(By.CSS_SELECTOR, ".flame .flame-bar"))
    assert len(bars) > 3 and "::transfer" in bars[0].text
    assert "transfer(to: address, amount: u64)" in _view_text(browser)  # the decoded arguments' signature
    _shot(browser, screenshots, "transaction-1280")

    # The token's page: dev1's balance, 250, in the storage browser (key "b" + dev1's address).
    _go(browser, f"#/address/{token_address}")
    rows = _wait("the storage table", lambda: _texts(browser, "table.storage tbody tr"))
    assert any("dev1" in row and "250" in row and "u64" in row for row in rows), rows
    assert any("supply" in row for row in rows), rows  # every key (get_storage), not only those a transfer changed
    assert "balance-of(owner: address) -> u64" in _view_text(browser)
    _shot(browser, screenshots, "contract-1280")

    # One search box: dev1 is an address.
    search = browser.find_element(By.ID, "search-input")
    search.send_keys("dev1", Keys.ENTER)
    _wait("dev1's page", lambda: browser.execute_script("return location.hash") == f"#/address/{dev1_address}")
    _wait("dev1's balance", lambda: browser.find_element(By.ID, "account-balance").text != "")
    assert "dev1" in browser.find_element(By.CSS_SELECTOR, "h1").text
    balance = browser.find_element(By.ID, "account-balance").text.replace(",", "")
    assert int(balance) == client.balance(dev1_address)

    # Snapshot and revert from the controls.
    result = browser.find_element(By.ID, "ctl-result")
    browser.find_element(By.ID, "ctl-snapshot").click()
    _wait("the snapshot", lambda: result.text.startswith("snapshot "))
    snapshot_head = client.head().height
    assert f"at height {snapshot_head}" in result.text
    browser.find_element(By.ID, "ctl-mine").click()
    _wait("a mined block", lambda: result.text.startswith("mined 1 block"))
    assert client.head().height == snapshot_head + 1
    _wait("the new head", lambda: browser.find_element(By.ID, "head").text == f"head #{snapshot_head + 1}")
    browser.find_element(By.ID, "ctl-revert").click()
    _wait("the revert", lambda: result.text.startswith("reverted"))
    assert client.head().height == snapshot_head
    _wait("the head after the revert", lambda: browser.find_element(By.ID, "head").text == f"head #{snapshot_head}")
    browser.find_element(By.ID, "ctl-revert").click()  # the snapshot is gone: refused, said as text
    _wait("the refusal", lambda: "revert refused" in result.text and "no snapshot" in result.text)

    # The hostile event: its name and data are text, nothing ran, no element was made of them.
    _go(browser, f"#/tx/{hostile_tx}")
    _wait("the hostile event", lambda: HOSTILE_NAME in _texts(browser, "li.event .event-name"))
    assert HOSTILE_DATA in browser.find_element(By.CSS_SELECTOR, "li.event").text
    assert browser.find_elements(By.CSS_SELECTOR, "#view img, #view script") == []
    with pytest.raises(NoAlertPresentException):
        _ = browser.switch_to.alert.text
    _shot(browser, screenshots, "hostile-event-1280")

    # 390 px wide: the same pages fit without sideways scrolling.
    _width(browser, 390)
    for name, route, ready in (
        ("home-390", "#/", "table.blocks"),
        ("transaction-390", f"#/tx/{transfer.tx_hash}", ".flame"),
        ("contract-390", f"#/address/{token_address}", "table.storage"),
    ):
        _go(browser, route)
        _wait(f"{route} at 390 px", lambda sel=ready: browser.find_elements(By.CSS_SELECTOR, sel))  # type: ignore[misc]
        _no_horizontal_scroll(browser, 390)
        _shot(browser, screenshots, name)

    # Nothing went wrong in the page.
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], errors
    print(f"explorer screenshots: {sorted(path.name for path in screenshots.glob('*.png'))}")


def test_a_follower_serves_the_explorer_without_the_controls(
    devnet: Devnet, browser: Any, screenshots: Path, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    client = devnet.client()
    dev0 = client.dev_account(0)
    token = dev0.deploy(TOKEN, "init", {"supply": 1_000_000})
    follower = start_listening(
        ["follow", "--rpc", devnet.url, "--data", str(tmp_path / "follower"), "--port", "0", "--poll", "0.1"],
        tmp_path / "follower",
    )
    try:
        browser.get(follower.url + "/")
        _wait("the follower's head", lambda: browser.find_element(By.ID, "head").text == "head #1")
        controls = browser.find_element(By.ID, "controls").text
        assert f"Devnet controls are off: this node follows {devnet.url}" in controls
        assert browser.find_elements(By.ID, "ctl-mine") == []
        token.call("transfer", {"to": client.dev_account(1).address, "amount": 5}, sender=dev0)
        _wait("block #2 from the followed node", lambda: "#2" in _texts(browser, "table.blocks a"))
        _shot(browser, screenshots, "follower-1280")
        errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == [], errors
    finally:
        follower.stop()
