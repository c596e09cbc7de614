"""Only the developer's own tools reach the node (issue 12, item 2), against a real ``wasmchain devnet``.

The attack of the issue: a web page the developer opens (``Origin``), or a
DNS-rebinding name (``Host``), posting ``text/plain`` (a request a browser
sends without asking first) ran ``devnet_set_balance``, ``devnet_revert`` and
a ``submit_transaction`` from dev0, and the answer carried
``Access-Control-Allow-Origin: *``.  Each part is refused now, before
anything runs, and nothing changes; ``--allowed-hosts`` and
``--cors-origins`` let chosen names and pages in, as geth's
``--http.vhosts`` and ``--http.corsdomain`` do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Devnets
from tests.e2e.tools import (
    Devnet,
    Response,
    call,
    exchange,
    native_transfer,
    next_nonce,
    parse_response,
    post,
    rpc,
    tx_hex,
)
from tests.helpers.devnet import start_listening, wait_for
from wasmchain.cli.main import main
from wasmchain.protocol.keys import dev_key, format_address

DEV0 = dev_key(0)
ATTACKER_ORIGIN = "http://attacker.example"


def local_host(devnet: Devnet) -> str:
    return f"127.0.0.1:{devnet.port}"


def refusal(response: Response, status: int, reason: str) -> str:
    """The refusal's message, once its status, reason and headers are checked: no CORS header, connection closed."""
    assert response.status == status, response
    assert not [name for name in response.headers if name.startswith("access-control-")], response.headers
    error = response.json()["error"]
    assert error["code"] == -32600 and error["data"]["reason"] == reason, error
    message: str = error["message"]
    return message


def state(devnet: Devnet) -> dict[str, Any]:
    """What the attack tried to change: the head, dev0's balance and nonce."""
    client = devnet.client()
    return {
        "head": client.call("chain_info")["head"],
        "balance": client.call("get_balance", address=format_address(DEV0.address))["balance"],
        "nonce": next_nonce(client, DEV0),
    }


def attack_calls(devnet: Devnet) -> list[dict[str, Any]]:
    client = devnet.client()
    snapshot = client.call("devnet_snapshot")["id"]  # (taken by the developer; the page reverts to it)
    transfer = native_transfer(DEV0, next_nonce(client, DEV0), dev_key(9).address, 10**18)
    return [
        call("devnet_set_balance", {"address": format_address(dev_key(9).address), "balance": 10**30}),
        call("devnet_revert", {"id": snapshot}),
        call("submit_transaction", {"tx": tx_hex(transfer)}),
        call("devnet_mine", {"blocks": 3}),
    ]


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ({"Origin": ATTACKER_ORIGIN, "Host": "attacker.example:8545", "Content-Type": "text/plain"}, 403, "host"),
        ({"Host": "attacker.example"}, 403, "host_not_allowed"),  # DNS rebinding: the page's own name
        ({"Origin": ATTACKER_ORIGIN}, 403, "origin_not_allowed"),  # a page posting to 127.0.0.1
        ({"Origin": "null"}, 403, "origin_not_allowed"),  # a file or a sandboxed frame
        ({"Content-Type": "text/plain"}, 415, "unsupported_media_type"),  # no preflight for text/plain
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),  # a form
        ({"Content-Type": "multipart/form-data; boundary=x"}, 415, "unsupported_media_type"),
    ],
    ids=["the-issue", "host", "origin", "origin-null", "text-plain", "form", "multipart"],
)
def test_the_attack_is_refused_before_it_runs_and_changes_nothing(
    devnet: Devnet, headers: dict[str, str], status: int, reason: str
) -> None:
    calls = attack_calls(devnet)
    before = state(devnet)
    for payload in [*calls, calls]:  # each call, then all of them as a batch
        response = post(devnet, json.dumps(payload), headers)
        message = refusal(response, status, "host_not_allowed" if reason == "host" else reason)
        if reason == "host":
            assert "Host 'attacker.example:8545' is not allowed" in message and "--allowed-hosts" in message
        if reason == "origin_not_allowed":
            assert f"Origin {headers['Origin']!r} is not allowed" in message and "--cors-origins" in message
    # A preflight for the page is refused too, and a GET.
    for method in ("OPTIONS", "GET"):
        response = post(devnet, b"", {**headers, "Access-Control-Request-Method": "POST"}, method=method)
        if reason != "unsupported_media_type":  # (a body's type: a GET or OPTIONS has none)
            refusal(response, 403, "host_not_allowed" if reason == "host" else reason)
    assert state(devnet) == before


def test_a_post_without_content_type_is_refused(devnet: Devnet) -> None:
    body = json.dumps(call("devnet_mine")).encode()
    before = state(devnet)
    raw = b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    message = refusal(parse_response(exchange(devnet, raw)), 415, "unsupported_media_type")
    assert "Content-Type: application/json, found none" in message and "with curl: -H" in message
    assert state(devnet) == before


def test_the_developers_tools_get_no_cors_headers_and_are_served(devnet: Devnet) -> None:
    """Host 127.0.0.1:PORT, localhost, [::1], none (HTTP/1.0); JSON with a charset; no Origin: served, no CORS."""
    body = json.dumps(call("chain_info"))
    for headers in [
        {},
        {"Host": f"localhost:{devnet.port}"},
        {"Host": "LOCALHOST"},
        {"Host": "[::1]:8545"},
        {"Content-Type": "application/json; charset=utf-8"},
        {"Content-Type": 'Application/JSON;charset="UTF-8"'},
    ]:
        response = post(devnet, body, headers)
        assert response.status == 200 and response.json()["result"]["head"], (headers, response)
        assert not [name for name in response.headers if name.startswith("access-control-")], response.headers
    raw = b"POST / HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body.encode(),
    )
    assert parse_response(exchange(devnet, raw)).status == 200  # no Host at all: not a browser's request
    # An OPTIONS without Origin is no preflight: answered, with nothing that would let a page in.
    response = post(devnet, b"", method="OPTIONS")
    assert response.status == 204 and "access-control-allow-origin" not in response.headers


def test_a_charset_other_than_utf8_is_refused(devnet: Devnet) -> None:
    response = post(devnet, json.dumps(call("chain_info")), {"Content-Type": "application/json; charset=latin-1"})
    assert "JSON is read as UTF-8" in refusal(response, 415, "unsupported_media_type")


def test_cors_origins_lets_the_named_pages_in_and_no_other(devnets: Devnets) -> None:
    node = devnets.start("--cors-origins", "http://localhost:3000, https://app.example/")
    body = json.dumps(call("chain_info"))
    for origin in ("http://localhost:3000", "https://app.example"):
        preflight = post(
            node,
            b"",
            {
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Private-Network": "true",
            },
            method="OPTIONS",
        )
        assert preflight.status == 204 and preflight.body == b""
        assert preflight.headers["access-control-allow-origin"] == origin
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert preflight.headers["access-control-allow-headers"] == "Content-Type"
        assert preflight.headers["access-control-allow-private-network"] == "true"
        assert preflight.headers["vary"] == "Origin"
        answer = post(node, body, {"Origin": origin})
        assert answer.status == 200 and answer.json()["result"]["head"]["height"] == 0
        assert answer.headers["access-control-allow-origin"] == origin
    for origin in (ATTACKER_ORIGIN, "http://localhost:3001", "https://localhost:3000", "null"):
        message = refusal(post(node, body, {"Origin": origin}), 403, "origin_not_allowed")
        assert "(http://localhost:3000, https://app.example)" in message
        refusal(post(node, b"", {"Origin": origin}, method="OPTIONS"), 403, "origin_not_allowed")
    # The page is in, but only with a JSON body and from an allowed Host.
    refusal(
        post(node, body, {"Origin": "http://localhost:3000", "Content-Type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    refusal(post(node, body, {"Origin": "http://localhost:3000", "Host": "attacker.example"}), 403, "host_not_allowed")


def test_cors_origins_star_lets_any_page_in(devnets: Devnets) -> None:
    node = devnets.start("--cors-origins", "*")
    preflight = post(node, b"", {"Origin": ATTACKER_ORIGIN}, method="OPTIONS")
    assert preflight.status == 204 and preflight.body == b""
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    answer = post(node, json.dumps(call("chain_info")), {"Origin": "null"})
    assert answer.status == 200 and answer.headers["access-control-allow-origin"] == "*"


def test_allowed_hosts_adds_names(devnets: Devnets) -> None:
    node = devnets.start("--allowed-hosts", "devnet.internal,[fd00::5]")
    body = json.dumps(call("chain_info"))
    for host in ("devnet.internal", f"DevNet.Internal:{node.port}", "[fd00::5]:80", f"localhost:{node.port}"):
        assert post(node, body, {"Host": host}).status == 200, host
    for host in ("attacker.example", "devnet.internal.attacker.example", "fd00::5", "devnet.internal:"):
        message = refusal(post(node, body, {"Host": host}), 403, "host_not_allowed")
        assert "127.0.0.1, [::1], devnet.internal, [fd00::5], localhost (any port)" in message
    anything = devnets.start("--allowed-hosts", "*")
    assert post(anything, body, {"Host": "attacker.example"}).status == 200


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--allowed-hosts", "devnet.internal:8545"], "--allowed-hosts takes host names without a port"),
        (["--allowed-hosts", "::1"], "an IPv6 address in brackets"),
        (["--allowed-hosts", "http://devnet.internal"], "found 'http://devnet.internal'"),
        (["--cors-origins", "localhost:3000"], "--cors-origins takes origins as a browser sends them"),
        (["--cors-origins", "http://a.example/app"], "found 'http://a.example/app'"),
    ],
)
def test_flags_that_can_match_nothing_are_refused(
    tmp_path: Any, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    for command in (["devnet"], ["follow", "--rpc", "http://127.0.0.1:1"]):
        assert main([*command, "--data", str(tmp_path / "data"), *flags]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def test_the_client_and_the_cli_still_work(devnet: Devnet, capsys: pytest.CaptureFixture[str]) -> None:
    assert devnet.client().call("chain_info")["head"]["height"] >= 0
    assert rpc(devnet, call("chain_info"))["result"]["chain_id"]
    assert main(["balance", "dev0", "--rpc", devnet.url]) == 0
    assert "balance:" in capsys.readouterr().out


def test_a_follower_serves_by_the_same_rules(devnet: Devnet, tmp_path: Path) -> None:
    """A follower reaches its remote as the developer's tool it is, and refuses pages and other names itself."""
    data = tmp_path / "follower"
    follower = start_listening(
        ["follow", "--rpc", devnet.url, "--data", str(data), "--port", "0", "--cors-origins", "http://localhost:3000"],
        data,
    )
    try:
        head = devnet.client().call("chain_info")["head"]["height"]
        follows = follower.client()
        wait_for("the follower at the devnet's head", lambda: follows.call("chain_info")["head"]["height"] >= head)
        body = json.dumps(call("chain_info"))
        refusal(post(follower, body, {"Host": "attacker.example"}), 403, "host_not_allowed")
        refusal(post(follower, body, {"Origin": ATTACKER_ORIGIN}), 403, "origin_not_allowed")
        refusal(post(follower, body, {"Content-Type": "text/plain"}), 415, "unsupported_media_type")
        allowed = post(follower, body, {"Origin": "http://localhost:3000"})
        assert allowed.status == 200 and allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
        follower.stop()
    finally:
        follower.kill()
