"""The explorer's files, without a browser: what the page may do, what it ships, and its dev key table.

The page is served under ``Content-Security-Policy: default-src 'self'``, with nothing fetched from
outside the node (issue 17, item 3): no inline script or style, no address of another site, and
chain data entered as text only (no HTML-parsing DOM call anywhere in the script).
"""

from __future__ import annotations

import fnmatch
import re
import tomllib

import pytest

from tests.helpers import ROOT
from wasmchain import dev_key
from wasmchain.protocol.keys import DEV_ACCOUNTS

EXPLORER = ROOT / "chain" / "node" / "explorer"
FILES = ("index.html", "explorer.js", "explorer.css", "favicon.svg")
SVG_NAMESPACE = "http://www.w3.org/2000/svg"  # a name, never fetched


def test_the_files_are_there() -> None:
    assert sorted(path.name for path in EXPLORER.iterdir()) == sorted(FILES)


def test_they_are_package_data() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = data["wasmchain.node"]
    for name in FILES:
        assert any(fnmatch.fnmatch(f"explorer/{name}", pattern) for pattern in patterns), name


@pytest.mark.parametrize("name", FILES)
def test_nothing_is_fetched_from_outside(name: str) -> None:
    text = (EXPLORER / name).read_text().replace(SVG_NAMESPACE, "")
    found = re.findall(r"(?:https?:|wss?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, flags=re.IGNORECASE)
    assert found == [], f"{name} names another site: {found}"
    assert "@import" not in text and "url(" not in text


def test_the_page_has_no_inline_script_or_style() -> None:
    html = (EXPLORER / "index.html").read_text()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all(" src=" in tag for tag in scripts), scripts
    assert "<style" not in html and " style=" not in html and " on" + "load=" not in html


def test_chain_data_is_never_parsed_as_markup() -> None:
    script = (EXPLORER / "explorer.js").read_text()
    for call in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "DOMParser", "eval(", "Function("):
        assert call not in script, f"explorer.js uses {call}"
    # attributes are set by name, and never an event handler or a URL from the chain: every href is a route
    assert re.findall(r"href: `(?!#/)", script) == []


def test_the_dev_key_table_is_dev_key() -> None:
    script = (EXPLORER / "explorer.js").read_text()
    table = re.search(r"DEV_ADDRESSES = \[(.*?)\];", script, flags=re.DOTALL)
    assert table is not None
    addresses = re.findall(r'"(0x[0-9a-f]{40})"', table.group(1))
    assert addresses == ["0x" + dev_key(index).address.hex() for index in range(DEV_ACCOUNTS)]
