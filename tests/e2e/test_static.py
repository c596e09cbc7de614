"""The explorer's files, served by the node on its port (chain/node/server.py; docs/rpc.md "The explorer").

``GET /`` is the explorer's page for a browser (an ``Accept`` naming
``text/html``) and ``chain_info`` for anything else; ``GET /explorer/NAME``
serves the files of chain/node/explorer/ with their type and the page's
security headers; nothing outside that folder is reachable, however the path
is spelled; the Host and Origin rules hold as for ``POST``.
"""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest

from tests.e2e.tools import Devnet, Response, exchange, parse_response
from wasmchain.node import server
from wasmchain.node.server import EXPLORER, Server, _Request

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
"""What Chromium's navigation sends."""


def get(devnet: Devnet, path: str, headers: dict[str, str] | None = None) -> Response:
    connection = http.client.HTTPConnection("127.0.0.1", devnet.port, timeout=30.0)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return Response(
            response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()
        )
    finally:
        connection.close()


def test_the_page_for_a_browser_and_chain_info_for_the_rest(devnet: Devnet) -> None:
    page = get(devnet, "/", {"Accept": BROWSER})
    assert page.status == 200 and page.body == (EXPLORER / "index.html").read_bytes()
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["x-content-type-options"] == "nosniff"
    csp = page.headers["content-security-policy"]
    assert csp.startswith(f"default-src 'self'; connect-src 'self' ws://127.0.0.1:{devnet.port}"), csp
    assert "frame-ancestors 'none'" in csp
    for accept in (None, "*/*", "application/json"):
        answer = get(devnet, "/", {"Accept": accept} if accept else {})
        assert answer.status == 200 and answer.json()["result"]["chain_id"], accept
    assert get(devnet, "/health", {"Accept": BROWSER}).json()["result"]["chain_id"]


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("index.html", "text/html; charset=utf-8"),
        ("explorer.js", "text/javascript; charset=utf-8"),
        ("explorer.css", "text/css; charset=utf-8"),
    ],
)
def test_explorer_files(devnet: Devnet, name: str, content_type: str) -> None:
    response = get(devnet, f"/explorer/{name}?v=1")
    assert response.status == 200 and response.body == (EXPLORER / name).read_bytes()
    assert response.headers["content-type"] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in response.headers["content-security-policy"]


def test_the_csp_names_the_host_the_browser_used(devnet: Devnet) -> None:
    response = get(devnet, "/explorer/index.html", {"Host": f"localhost:{devnet.port}"})
    assert f"connect-src 'self' ws://localhost:{devnet.port};" in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    "path",
    [
        "/explorer/",
        "/explorer/nope.js",
        "/explorer/../server.py",
        "/explorer/..%2fserver.py",
        "/explorer/%2e%2e/server.py",
        "/explorer/.%2e/server.py",
        "/explorer/..",
        "/explorer/.hidden.js",
        "/explorer//etc/passwd",
        "/explorer/sub/index.html",
        "/explorer/index.html/",
        "/explorer/index.html%00.js",
        "/explorer/../../../../etc/passwd",
        "/../../../../etc/passwd",
        "//etc/passwd",
        "/explorer",
        "/index.html",
        "/chain/node/explorer/index.html",
        "/explorer/%69ndex.html",
    ],
)
def test_nothing_else_is_served(devnet: Devnet, path: str) -> None:
    response = parse_response(exchange(devnet, f"GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n".encode()))
    assert response.status == 404, (path, response)
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == -32600
    assert b"root:" not in response.body and b"import" not in response.body


def test_a_file_of_another_kind_is_not_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the types of ``CONTENT_TYPES``, regular files in the folder itself (a link out of it is not)."""
    folder = tmp_path / "explorer"
    folder.mkdir()
    (folder / "index.html").write_text("<p>hi</p>")
    (folder / "notes.py").write_text("secret")
    (tmp_path / "outside.js").write_text("secret")
    (folder / "linked.js").symlink_to(tmp_path / "outside.js")
    (folder / "dir.js").mkdir()
    monkeypatch.setattr(server, "EXPLORER", folder)
    node = Server.__new__(Server)
    node.host, node.port, node.listening_port = "127.0.0.1", 8545, 8545
    request = _Request("GET", "/", True, {"host": "127.0.0.1:8545"})
    assert node._static(request, "index.html")[:2] == (200, b"<p>hi</p>")
    for name in ("notes.py", "linked.js", "dir.js", "missing.css"):
        status, body, _ = node._static(request, name)
        assert status == 404 and body is not None and b"secret" not in body, name


def test_without_the_explorers_files_a_clear_404(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "EXPLORER", tmp_path)
    node = Server.__new__(Server)
    node.host, node.port, node.listening_port = "127.0.0.1", 8545, 8545
    status, body, _ = node._static(_Request("GET", "/", True, {}), "index.html")
    assert status == 404 and body is not None
    assert b"the explorer's files are not installed" in body and b"GET /health answers chain_info" in body


def test_host_and_origin_rules_hold_for_the_page(devnet: Devnet) -> None:
    for headers, reason in [
        ({"Host": "attacker.example"}, "host_not_allowed"),  # DNS rebinding
        ({"Host": f"attacker.example:{devnet.port}", "Origin": f"http://attacker.example:{devnet.port}"}, "host"),
        ({"Origin": "http://attacker.example"}, "origin_not_allowed"),
    ]:
        response = get(devnet, "/explorer/index.html", {"Accept": BROWSER, **headers})
        assert response.status == 403, (headers, response)
        assert response.json()["error"]["data"]["reason"].startswith(reason)
        assert b"<" not in response.body
    own = get(devnet, "/explorer/explorer.js", {"Origin": f"http://127.0.0.1:{devnet.port}"})  # a module script
    assert own.status == 200 and "access-control-allow-origin" not in own.headers
