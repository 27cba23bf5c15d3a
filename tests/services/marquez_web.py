"""The real Marquez web UI (0.51.1) served by its own proxy server, and a real headless Chromium to drive it.

:class:`MarquezWeb` runs ``node setupProxy.js`` from the directory ``scripts/ensure-browser.sh`` prepares
(``~/.cache/lineage-marquez-web-<hash>``: the UI's production build, express, http-proxy-middleware), pointed at
a Marquez-compatible API (``MARQUEZ_HOST``/``MARQUEZ_PORT``): every ``/api/v1`` call the UI makes goes through
it to that server. :class:`Browser` is Debian's Chromium under Debian's chromedriver (selenium), with the
DevTools Network events logged, so a test sees every HTTP call the page made, its status, whether it is still
in flight, and its body. Anything missing is a :class:`BrowserError` naming what to install, never a skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .postgres import free_port

ROOT = Path(__file__).resolve().parents[2]
ENSURE = ROOT / "scripts" / "ensure-browser.sh"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


class BrowserError(RuntimeError):
    pass


def prepare_ui() -> Path:
    """The UI's directory, prepared by scripts/ensure-browser.sh (a no-op once it is done on this machine)."""
    r = subprocess.run(["bash", str(ENSURE)], capture_output=True, text=True, timeout=600, check=False)
    if r.returncode != 0:
        raise BrowserError(f"{ENSURE.relative_to(ROOT)} exited {r.returncode}:\n{r.stderr[-3000:]}")
    ui = Path(r.stdout.strip().splitlines()[-1])
    if not (ui / "setupProxy.js").exists() or not (ui / "dist" / "index.html").exists():
        raise BrowserError(f"{ENSURE.relative_to(ROOT)} printed {ui}, which holds no prepared UI")
    return ui


class MarquezWeb:
    """``node setupProxy.js`` on a free loopback port, proxying the API to ``api_port``."""

    def __init__(self, ui: Path, api_port: int, api_host: str = "127.0.0.1", log: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log or ui / "web.log"
        env = {**os.environ, "MARQUEZ_HOST": api_host, "MARQUEZ_PORT": str(api_port), "WEB_PORT": str(self.port)}
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(["node", "setupProxy.js"], cwd=ui, env=env, stdout=out,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrowserError(f"the Marquez web UI server exited {self.proc.returncode}:\n"
                                   f"{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthcheck", timeout=2) as r:
                    if r.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
        self.stop()
        raise BrowserError(f"the Marquez web UI server did not answer on {self.url}/healthcheck within 30 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class Call:
    """One HTTP request the page made, as DevTools saw it. ``status`` is None while no response came;
    ``failed`` names a network failure (refused, aborted); ``done`` means its body has fully arrived."""

    request_id: str
    method: str
    url: str
    status: int | None = None
    failed: str | None = None
    done: bool = False

    @property
    def path(self) -> str:
        """The URL from ``/api/`` on (the UI's own origin left out)."""
        i = self.url.find("/api/")
        return self.url[i:] if i >= 0 else self.url

    @property
    def bad(self) -> bool:
        return self.failed is not None or (self.status is not None and self.status >= 400)

    def __str__(self) -> str:
        outcome = self.failed or (str(self.status) if self.status is not None else "no response yet")
        return f"{self.method} {self.path} -> {outcome}"


class Browser:
    """Headless Chromium (``--headless=new``) under chromedriver, with every Network event kept."""

    def __init__(self, width: int = 1600, height: int = 1000) -> None:
        for binary, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
            if not binary.exists():
                raise BrowserError(f"no {binary}: install Debian's '{package}' (scripts/ensure-browser.sh does)")
        try:
            from selenium import webdriver
            from selenium.webdriver.chrome.service import Service
        except ImportError as e:  # the dev extra has it
            raise BrowserError(f"selenium is not installed in this venv ({e}): pip install -e '.[dev]'") from e
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    f"--window-size={width},{height}", "--disable-extensions", "--no-first-run",
                    # nothing off this machine: the fonts the UI asks Google for fail at once, not after a timeout
                    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        try:
            service = Service(str(CHROMEDRIVER), env={**os.environ, "TZ": "UTC"})  # dates shown as the API gives them
            self.driver = webdriver.Chrome(options=options, service=service)
        except Exception as e:
            raise BrowserError(f"Chromium did not start under {CHROMEDRIVER}: {e}") from e
        self.driver.set_page_load_timeout(60)
        self.calls: list[Call] = []
        self._by_id: dict[str, Call] = {}

    # -- the network log ---------------------------------------------------------------------------------

    def poll(self) -> list[Call]:
        """Read the Network events that arrived since the last poll into :attr:`calls` (all of them, in order)."""
        for entry in self.driver.get_log("performance"):  # type: ignore[no-untyped-call]
            message = json.loads(entry["message"])["message"]
            method, params = message.get("method", ""), message.get("params", {})
            rid = params.get("requestId")
            if method == "Network.requestWillBeSent":
                request = params["request"]
                previous = self._by_id.get(rid)
                if previous is not None and params.get("redirectResponse"):
                    previous.status, previous.done = params["redirectResponse"]["status"], True
                call = Call(rid, request["method"], request["url"])
                self._by_id[rid] = call
                self.calls.append(call)
            elif rid in self._by_id:
                call = self._by_id[rid]
                if method == "Network.responseReceived":
                    call.status = params["response"]["status"]
                elif method == "Network.loadingFinished":
                    call.done = True
                elif method == "Network.loadingFailed":
                    call.failed, call.done = params.get("errorText") or "failed", True
        return self.calls

    def mark(self) -> int:
        """A point in the log: :meth:`api_calls` ``(since=mark)`` are the calls made after it."""
        return len(self.poll())

    def api_calls(self, since: int = 0) -> list[Call]:
        """The calls to the API (``/api/``) made since ``since``."""
        return [c for c in self.poll()[since:] if "/api/" in c.url]

    def body(self, call: Call) -> Any:
        """The decoded JSON body the page received for ``call``."""
        got = self.driver.execute_cdp_cmd("Network.getResponseBody", {"requestId": call.request_id})
        return json.loads(got["body"])

    def console_errors(self) -> list[str]:
        """The browser console's errors since the last call (uncaught exceptions, failed loads)."""
        entries = self.driver.get_log("browser")  # type: ignore[no-untyped-call]
        return [e["message"] for e in entries if e.get("level") == "SEVERE"]

    # -- the page ----------------------------------------------------------------------------------------

    def open(self, url: str) -> int:
        """Load ``url``; returns the mark its calls start at."""
        since = self.mark()
        self.driver.get(url)
        return since

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def wait(self, ready: Callable[[], bool], timeout: float, every: float = 0.25) -> bool:
        """Poll ``ready`` until it holds or ``timeout`` seconds pass; whether it held."""
        deadline = time.monotonic() + timeout
        while True:
            if ready():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(every)

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))

    def quit(self) -> None:
        self.driver.quit()
