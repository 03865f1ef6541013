"""A small DevTools-protocol client for headless Chromium: open a report, read what it did.

It records console errors and warnings, uncaught exceptions, browser log
errors, JavaScript dialogs and every request to anything but the page's own
file, so a test can assert that a report is quiet and fully self-contained.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import websocket

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)
START_TIMEOUT = 30.0
CALL_TIMEOUT = 30.0


def find_chromium() -> str | None:
    """Debian's `chromium`, or the binary TALLYCLERK_CHROMIUM names; None when there is none."""
    named = os.environ.get("TALLYCLERK_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@dataclass
class Problems:
    """What a page did that a quiet, self-contained report never does."""

    console: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any((self.console, self.exceptions, self.log, self.requests, self.dialogs))


class Page:
    """One browser tab, driven over its DevTools websocket."""

    def __init__(self, url: str) -> None:
        self._socket = websocket.create_connection(url, timeout=CALL_TIMEOUT, suppress_origin=True)
        self._next = 0
        self._events: list[dict] = []
        self.problems = Problems()
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params: object) -> dict:
        self._next += 1
        ident = self._next
        self._socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + CALL_TIMEOUT
        while time.monotonic() < deadline:
            message = json.loads(self._socket.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self._on_event(message)
        raise TimeoutError(f"no answer to {method} within {CALL_TIMEOUT} s")

    def _on_event(self, event: dict) -> None:
        method, params = event["method"], event.get("params", {})
        self._events.append(event)
        if method == "Runtime.consoleAPICalled" and params["type"] in (
            "error",
            "warning",
            "assert",
        ):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            self.problems.console.append(f"{params['type']}: {args}")
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            self.problems.exceptions.append(str(text))
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
            entry = params["entry"]
            self.problems.log.append(f"{entry['level']}: {entry['text']} {entry.get('url', '')}")
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith(("file:", "data:", "about:")):
                self.problems.requests.append(url)
        elif method == "Page.javascriptDialogOpening":
            self.problems.dialogs.append(params.get("message", ""))
            self._socket.send(
                json.dumps(
                    {
                        "id": 0,
                        "method": "Page.handleJavaScriptDialog",
                        "params": {"accept": False},
                    }
                )
            )

    def _wait_for(self, method: str, timeout: float = CALL_TIMEOUT) -> dict:
        for event in self._events:
            if event["method"] == method:
                self._events.remove(event)
                return event
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self._socket.recv())
            if "method" in message:
                self._on_event(message)
                if message["method"] == method:
                    self._events.remove(message)
                    return message
        raise TimeoutError(f"no {method} within {timeout} s")

    def open(self, path: Path, *, width: int = 1280, height: int = 900) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        self._events.clear()
        self.call("Page.navigate", url=path.resolve().as_uri())
        self._wait_for("Page.loadEventFired")
        # Give scripts that run after load, and late console messages, a moment to arrive.
        self.evaluate("new Promise(r => setTimeout(r, 150))", wait=True)

    def follow(self, selector: str) -> None:
        """Click the link `selector` finds and wait for the page it opens."""
        self._events.clear()
        self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")
        self._wait_for("Page.loadEventFired")

    def evaluate(self, expression: str, *, wait: bool = False) -> object:
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=wait
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def text(self) -> str:
        return str(self.evaluate("document.body.innerText"))

    def screenshot(self, path: Path) -> Path:
        """The whole page, not only the viewport, as PNG."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.call(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def pdf(self) -> bytes:
        printed = self.call("Page.printToPDF", preferCSSPageSize=True, printBackground=True)
        return base64.b64decode(printed["data"])

    def close(self) -> None:
        self._socket.close()


class Chromium:
    """A headless Chromium process with its own throw-away profile."""

    def __init__(self, binary: str) -> None:
        self._profile = Path(tempfile.mkdtemp(prefix="tallyclerk-chromium-"))
        self._process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._port = self._wait_for_port()

    def _wait_for_port(self) -> int:
        marker = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self._process.returncode}")
            if marker.is_file() and marker.read_text().strip():
                return int(marker.read_text().splitlines()[0])
            time.sleep(0.1)
        raise TimeoutError("chromium did not open its DevTools port")

    def new_page(self) -> Page:
        listing = _get_json(f"http://127.0.0.1:{self._port}/json/version")
        browser = websocket.create_connection(
            listing["webSocketDebuggerUrl"], timeout=CALL_TIMEOUT, suppress_origin=True
        )
        try:
            browser.send(
                json.dumps({"id": 1, "method": "Target.createTarget", "params": {"url": ""}})
            )
            while True:
                message = json.loads(browser.recv())
                if message.get("id") == 1:
                    target = message["result"]["targetId"]
                    break
        finally:
            browser.close()
        return Page(f"ws://127.0.0.1:{self._port}/devtools/page/{target}")

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        shutil.rmtree(self._profile, ignore_errors=True)


def _get_json(url: str) -> dict:
    return httpx.get(url, timeout=CALL_TIMEOUT).json()


def pdf_page_sizes(pdf: bytes) -> list[tuple[float, float]]:
    """Width and height in points of each page's MediaBox, read from the PDF's text."""
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    return [(float(w), float(h)) for w, h in boxes]


def main() -> None:
    """`python -m tests.reports.browser PAGE.html SHOT.png [WIDTH]`: a full-page screenshot."""
    import sys

    page_path, shot_path = Path(sys.argv[1]), Path(sys.argv[2])
    width = int(sys.argv[3]) if len(sys.argv) > 3 else 1280
    binary = find_chromium()
    if binary is None:
        raise SystemExit("chromium is not installed: apt-get install chromium")
    browser = Chromium(binary)
    try:
        page = browser.new_page()
        page.open(page_path, width=width)
        if page.problems:
            raise SystemExit(f"{page_path}: {page.problems}")
        page.screenshot(shot_path)
        page.close()
    finally:
        browser.close()


if __name__ == "__main__":
    main()
