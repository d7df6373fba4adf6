"""Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe):
pages are opened, their requests and dialogs recorded, and expressions evaluated."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from typing import Any

import pytest

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", "--disable-extensions", "--remote-debugging-pipe",
         "--allow-file-access-from-files")


class Browser:
    """One Chromium; `open` loads a page and returns what it asked for and did."""

    def __init__(self) -> None:
        binary = shutil.which("chromium")
        if binary is None:
            pytest.fail("chromium is not installed (apt-get install chromium)")
        to_browser, self._write = os.pipe()
        self._read, from_browser = os.pipe()

        def pipes() -> None:  # the protocol goes through fds 3 (in) and 4 (out)
            high = os.dup(to_browser), os.dup(from_browser)  # neither is 3 nor 4
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.process = subprocess.Popen([binary, *FLAGS, "about:blank"], preexec_fn=pipes,
                                        close_fds=False, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        os.close(self._write)
        os.close(self._read)

    def _send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        return self._id

    def _next(self, deadline: float) -> dict[str, Any] | None:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._read], [], [], left)[0]:
                return None
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)  # type: ignore[no-any-return]

    def _keep(self, message: dict[str, Any]) -> None:
        """Record an event; a dialog is recorded and dismissed, so that the page goes on."""
        self.events.append(message)
        if message.get("method") == "Page.javascriptDialogOpening":
            self._send("Page.handleJavaScriptDialog", {"accept": True}, message.get("sessionId"))

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 60) -> dict[str, Any]:
        wanted = self._send(method, params, session)
        deadline = time.monotonic() + timeout
        while (message := self._next(deadline)) is not None:
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]  # type: ignore[no-any-return]
            self._keep(message)
        raise TimeoutError(method)

    def wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (message := self._next(deadline)) is not None:
            self._keep(message)

    def open(self, url: str, settle: float = 2.0) -> Page:
        """Load `url` in a new tab and let it settle; the tab records requests and dialogs."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime"):
            self.call(f"{domain}.enable", session=session)
        self.load(session, "Page.navigate", {"url": url})
        self.wait(settle)
        return Page(self, session, url)

    def load(self, session: str, method: str, params: dict[str, Any]) -> None:
        """Call `method` (Page.navigate, Page.reload) in the tab and wait for its load event."""
        self.events[:] = [e for e in self.events if not (
            e.get("method") == "Page.loadEventFired" and e.get("sessionId") == session)]
        self.call(method, params, session)
        deadline = time.monotonic() + 60
        while not any(e.get("method") == "Page.loadEventFired" and e.get("sessionId") == session
                      for e in self.events):
            message = self._next(deadline)
            if message is None:
                raise TimeoutError(f"{method} {params}: the page did not load")
            self._keep(message)


class Page:
    """A loaded tab."""

    def __init__(self, browser: Browser, session: str, url: str) -> None:
        self.browser, self.session, self.url = browser, session, url

    def _events(self, method: str) -> list[dict[str, Any]]:
        return [e["params"] for e in self.browser.events
                if e.get("method") == method and e.get("sessionId") == self.session]

    @property
    def requests(self) -> list[str]:
        """Every URL the page asked for."""
        return [e["request"]["url"] for e in self._events("Network.requestWillBeSent")]

    @property
    def failed(self) -> list[str]:
        """The requests that failed or got an HTTP error."""
        ids = {e["requestId"]: e["request"]["url"] for e in self._events("Network.requestWillBeSent")}
        bad = [ids.get(e["requestId"], "?") for e in self._events("Network.loadingFailed")]
        return bad + [e["response"]["url"] for e in self._events("Network.responseReceived")
                      if e["response"].get("status", 200) >= 400]

    @property
    def dialogs(self) -> list[dict[str, Any]]:
        return self._events("Page.javascriptDialogOpening")

    def evaluate(self, expression: str) -> Any:
        result = self.browser.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                                   self.session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: str, width: int = 1200, height: int = 1800) -> None:
        """The page as a window of `width` x `height` shows it when opened at that size: loaded
        again once resized, as a map fits its view to the size it opens at, not to a resize."""
        import base64

        self.browser.call("Page.bringToFront", {}, self.session)  # a tab behind others is not drawn
        self.browser.call("Emulation.setDeviceMetricsOverride",
                          {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                          self.session)
        self.browser.load(self.session, "Page.reload", {})
        self.browser.wait(1.5)
        data = self.browser.call("Page.captureScreenshot", {"format": "png"}, self.session)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
