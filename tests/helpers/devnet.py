"""A real ``wasmchain devnet`` process for tests: start, stop, restart, with every wait bounded.

``start_devnet`` runs the installed console script on a free port and
returns once it prints its ``Listening on`` line; ``Devnet.stop`` sends
SIGTERM and checks the exit (status 0, ``stopped at height N``, no
traceback in the output); ``Devnet.restart`` starts it again on the same
data directory.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wasmchain import Client, HTTPTransport

ROOT = Path(__file__).resolve().parents[2]
GENESIS = ROOT / "genesis.json"
WASMCHAIN = Path(sys.executable).parent / "wasmchain"

START_TIMEOUT = 30.0
"""Seconds for the devnet to print its Listening line."""
STOP_TIMEOUT = 30.0
"""Seconds for the devnet to exit after SIGTERM."""

_LISTENING = re.compile(r"^Listening on (http://\S+)  \(Ctrl-C to stop\)$")
_STOPPED = re.compile(r"^stopped at height (\d+)$")


# -- the process --------------------------------------------------------------------


@dataclass
class Devnet:
    """A running ``wasmchain devnet``."""

    url: str
    process: subprocess.Popen[str]
    data: Path
    options: tuple[str, ...]
    lines: list[str] = field(repr=False)
    reader: threading.Thread = field(repr=False)
    transports: list[HTTPTransport] = field(default_factory=list, repr=False)

    @property
    def port(self) -> int:
        port = self.url.rsplit(":", 1)[1]
        return int(port)

    def output(self) -> str:
        return "".join(self.lines)

    def client(self) -> Client:
        """A client with its own transport (a kept-alive connection per thread).

        ``stop`` closes the calling thread's connections; another thread
        closes its own (``client.transport.close()``).
        """
        transport = HTTPTransport(self.url, timeout=30.0)
        self.transports.append(transport)
        return Client(transport)

    def stop(self) -> int:
        """SIGTERM; check the exit; return the height it says it stopped at."""
        assert self.process.poll() is None, f"the devnet died (exit {self.process.returncode}):\n{self._finish()}"
        for transport in self.transports:
            transport.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired as timeout:
            self.process.kill()
            raise AssertionError(
                f"the devnet did not exit within {STOP_TIMEOUT} s of SIGTERM:\n{self._finish()}"
            ) from timeout
        output = self._finish()
        assert code == 0, f"the devnet exited with {code} after SIGTERM:\n{output}"
        assert "Traceback" not in output and "Unhandled exception" not in output, (
            f"the devnet logged an error:\n{output}"
        )
        stopped = _STOPPED.match(self.lines[-1].rstrip("\n")) if self.lines else None
        assert stopped, f"no 'stopped at height N' line at the end of the output:\n{output}"
        return int(stopped.group(1))

    def restart(self) -> Devnet:
        """Stop (if running) and start again on the same data directory and options."""
        if self.process.poll() is None:
            self.stop()
        return start_devnet(self.data, *self.options)

    def kill(self) -> None:
        """Last resort (a failed test): no checks."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)
        self._finish()

    def _finish(self) -> str:
        for transport in self.transports:
            transport.close()
        self.reader.join(STOP_TIMEOUT)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.output()


def start_devnet(data: Path, *options: str) -> Devnet:
    """``wasmchain devnet --port 0 --data DATA --genesis GENESIS OPTIONS``, once it listens."""
    command = ["devnet", "--port", "0", "--data", str(data), "--genesis", str(GENESIS), *options]
    return start_listening(command, data, options)


def start_listening(arguments: list[str], data: Path, options: tuple[str, ...] = ()) -> Devnet:
    """``wasmchain ARGUMENTS`` (a devnet or a follower), once it prints its ``Listening on URL`` line.

    ``data`` and ``options`` are kept on the handle for ``Devnet.restart``.
    """
    command = [str(WASMCHAIN), *arguments]
    env = {name: value for name, value in os.environ.items() if not name.startswith("WASMCHAIN_")}
    env["PYTHONUNBUFFERED"] = "1"  # every line as it is printed, for the failure messages
    data.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=data.parent,
        env=env,
    )
    lines: list[str] = []
    listening = threading.Event()
    found: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            match = _LISTENING.match(line.rstrip("\n"))
            if match and not found:
                found.append(match.group(1))
                listening.set()

    reader = threading.Thread(target=read, name="wasmchain-output", daemon=True)
    reader.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not listening.wait(0.02):
        if process.poll() is not None:
            reader.join(STOP_TIMEOUT)  # a process that listened and exited at once: the line may still be in the pipe
            if found:
                break
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.kill()
            process.wait(STOP_TIMEOUT)
            reader.join(STOP_TIMEOUT)
            if process.stdout is not None:
                process.stdout.close()
            raise AssertionError(
                f"{' '.join(command)} did not print a Listening line within {START_TIMEOUT} s "
                f"(exit {process.returncode}):\n{''.join(lines)}"
            )
    return Devnet(found[0], process, data, options, lines, reader)


def wait_for(what: str, condition: Any, timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``condition()`` until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {value!r})")
        time.sleep(interval)
