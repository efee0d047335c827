"""Open a page in real headless Chromium over the DevTools protocol and record what it did.

Used by the report's browser test and by scripts/report_screenshot.py.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect
from websockets.sync.connection import Connection

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--remote-debugging-port=0",
)  # fmt: skip


def available() -> bool:
    """True when a Chromium binary is installed."""
    return Path(CHROMIUM).is_file()


@dataclass
class PageVisit:
    """What happened while a page loaded."""

    requests: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)
    """(level, text) of console calls, log entries and uncaught exceptions."""
    facts: dict[str, Any] = field(default_factory=dict)
    screenshot: bytes | None = None

    @property
    def errors(self) -> list[str]:
        """Console entries at error level."""
        return [text for level, text in self.console if level in ("error", "exception")]


class _Session:
    def __init__(self, ws: Connection) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        if any(e.get("method") == method for e in self.events):
            return
        while True:
            msg = json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            self.events.append(msg)
            if msg.get("method") == method:
                return

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.events.append(json.loads(self.ws.recv(timeout=left)))
            except TimeoutError:
                return


_FACTS_JS = """JSON.stringify({
  title: document.title,
  sections: document.querySelectorAll('section').length,
  svgPolylines: document.querySelectorAll('svg.chart polyline').length,
  tables: document.querySelectorAll('table').length,
  height: document.documentElement.scrollHeight,
  bodyText: document.body.innerText.length,
  scripts: document.scripts.length,
  externalRefs: [...document.querySelectorAll('[src],link[href]')].length
})"""


# Chromium keeps a singleton Unix socket under $TMPDIR. A deep TMPDIR makes that path longer than
# a socket path may be and Chromium never starts, so its profile, and its TMPDIR, is a private
# folder under the system's /tmp instead (only the parent of mkdtemp's private 0700 folder).
_SHORT_TMP = "/tmp"  # nosec B108


def visit(page: Path, *, screenshot: bool = False, width: int = 1200) -> PageVisit:
    """Load `page` (a local file) in headless Chromium and return what it requested and logged."""
    # Chromium's helper processes may still be writing the profile when the browser is gone:
    # the whole process group is killed, and the profile's removal tolerates their last writes.
    with tempfile.TemporaryDirectory(
        prefix="assay-chromium-", dir=_SHORT_TMP, ignore_cleanup_errors=True
    ) as profile:
        proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},900",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "TMPDIR": profile}, start_new_session=True,
        )  # fmt: skip
        try:
            return _drive(proc, page, screenshot, width)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            if proc.stderr is not None:
                proc.stderr.close()


def _devtools_port(proc: subprocess.Popen[str]) -> int:
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        if m := re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line):
            return int(m.group(1))
    raise RuntimeError("Chromium did not start its DevTools endpoint")


def _drive(proc: subprocess.Popen[str], page: Path, screenshot: bool, width: int) -> PageVisit:
    port = _devtools_port(proc)
    targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=20).json()
    target = next(t for t in targets if t.get("type") == "page")
    # websockets 16+ wants its connection used as a context manager
    with connect(target["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024, open_timeout=20) as ws:
        return _visit(_Session(ws), page, screenshot, width)


def _visit(session: _Session, page: Path, screenshot: bool, width: int) -> PageVisit:
    for domain in ("Page", "Network", "Runtime", "Log"):
        session.call(f"{domain}.enable")
    session.call("Page.navigate", url=page.resolve().as_uri())
    session.wait_for("Page.loadEventFired", timeout=60)
    session.drain(1.0)
    result = PageVisit()
    facts = session.call("Runtime.evaluate", expression=_FACTS_JS, returnByValue=True)
    result.facts = json.loads(facts["result"]["value"])
    if screenshot:
        height = int(result.facts["height"])
        session.call(
            "Emulation.setDeviceMetricsOverride",
            width=width, height=min(height, 16000), deviceScaleFactor=1, mobile=False,
        )  # fmt: skip
        shot = session.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        result.screenshot = base64.b64decode(shot["data"])
    _collect(session.events, result)
    return result


def _collect(events: list[dict[str, Any]], result: PageVisit) -> None:
    for e in events:
        method, params = e.get("method"), e.get("params", {})
        if method == "Network.requestWillBeSent":
            result.requests.append(str(params["request"]["url"]))
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            result.console.append((str(params["type"]), text))
        elif method == "Runtime.exceptionThrown":
            result.console.append(("exception", str(params["exceptionDetails"].get("text"))))
        elif method == "Log.entryAdded":
            entry = params["entry"]
            result.console.append((str(entry["level"]), str(entry.get("text", ""))))
