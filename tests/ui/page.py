"""What a test of one Marquez UI view asks of the page: that it settled with its data on screen.

:meth:`Page.check` waits until the view's own condition holds (``ready`` returns None; otherwise it says what
is missing), no API call is in flight and no spinner or skeleton is visible; it gives up early once a call
failed and nothing else is pending, or once nothing has changed for QUIET_S with nothing in flight. Either way
it saves a screenshot, then fails with everything wrong at once:
each API call answered 4xx/5xx (with the body it got), calls still in flight, spinners left, what the view
lacks, JavaScript errors. Readers of the DOM for graphs (SVG nodes and edges) and tables are here too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from ..services.marquez_web import Browser, Call

SETTLE_S = 25.0  # the most a view may take to show its data (2 busy cores, a layout in a web worker)
QUIET_S = 10.0  # how long a view with no call in flight, no spinner and no change is taken to be done
SPINNERS = ".MuiCircularProgress-root, .MuiSkeleton-root"
DRAWER = ".MuiDrawer-paperAnchorRight"  # a node's detail drawer (the side navigation is a drawer too)
_NOISE = ("fonts.googleapis.com", "favicon.png", "Failed to load resource: the server responded")

Ready = Callable[[], "str | None"]


@dataclass
class Page:
    browser: Browser
    base: str  # the UI's URL
    shots: Path  # where screenshots go
    seen: list[str] = field(default_factory=list)  # the screenshots taken

    @property
    def driver(self) -> Any:
        return self.browser.driver

    def open(self, path: str) -> int:
        return self.browser.open(self.base + path)

    def text(self) -> str:
        try:
            return str(self.driver.find_element(By.TAG_NAME, "body").text)
        except WebDriverException:
            return ""

    def spinners(self) -> int:
        return int(self.browser.js(
            "return [...document.querySelectorAll(arguments[0])].filter(e => e.getClientRects().length).length",
            SPINNERS))

    def check(self, name: str, since: int, ready: Ready, timeout: float = SETTLE_S) -> list[Call]:
        """Wait for the view ``name`` to settle (see the module doc); its API calls since ``since``."""
        missing: list[str | None] = ["not checked"]
        last: list[Any] = [None, time.monotonic()]  # the state last seen, since when

        def looked() -> str | None:
            try:
                return ready()
            except WebDriverException as e:  # an element re-rendered under us: look again
                return f"the page changed while read ({type(e).__name__})"

        def settled() -> bool:
            calls = self.browser.api_calls(since)
            if any(c.status is None and not c.failed for c in calls):
                return False
            missing[0] = looked()
            spinning = self.spinners()
            if missing[0] is None and not spinning:
                return True
            if any(c.bad for c in calls):
                return True  # a refusal: the view will not get better
            state = (len(calls), missing[0], spinning)
            if state != last[0]:
                last[:] = [state, time.monotonic()]
            # nothing in flight, nothing new for QUIET_S and no spinner: what shows is all it will show
            return not spinning and time.monotonic() - last[1] > QUIET_S

        self.browser.wait(settled, timeout)
        time.sleep(0.3)  # what the last answer renders
        missing[0] = looked()
        self.screenshot(name)
        calls = self.browser.api_calls(since)
        problems = [f"{c} {self._body(c)}" for c in calls if c.bad]
        problems += [f"{c} (still in flight after {timeout:.0f} s)" for c in calls if c.status is None and not c.failed]
        if not calls:
            problems.append("the view made no API call at all")
        if missing[0] is not None:
            problems.append(f"the view does not show its data: {missing[0]}")
        spinning = self.spinners()
        if spinning:
            problems.append(f"{spinning} spinner(s)/skeleton(s) still showing after {timeout:.0f} s")
        errors = [e for e in self.browser.console_errors() if not any(n in e for n in _NOISE)]
        problems += [f"JavaScript error: {e[:300]}" for e in errors]
        assert not problems, f"UI view '{name}' ({self.driver.current_url}):\n  " + "\n  ".join(problems)
        return calls

    def _body(self, call: Call) -> str:
        try:
            return repr(self.browser.body(call))[:300]
        except (WebDriverException, ValueError):
            return ""

    def screenshot(self, name: str) -> None:
        path = self.shots / f"{name}.png"
        self.browser.screenshot(path)
        self.seen.append(path.name)

    def response(self, calls: list[Call], path_start: str) -> Any:
        """The JSON the UI got for its (last) call whose path starts with ``path_start``."""
        matching = [c for c in calls if c.path.startswith(path_start) and c.status == 200]
        assert matching, f"the UI made no successful call to {path_start}…: {[str(c) for c in calls]}"
        return self.browser.body(matching[-1])

    # -- interactions --------------------------------------------------------------------------------------

    def click_text(self, text: str, css: str = "*") -> None:
        """Click the innermost visible element matching ``css`` whose own text is ``text``."""
        for e in self.driver.find_elements(By.CSS_SELECTOR, css):
            if e.is_displayed() and e.text.strip() == text:
                inner = [c for c in e.find_elements(By.XPATH, ".//*") if c.is_displayed() and c.text.strip() == text]
                (inner[-1] if inner else e).click()
                return
        raise AssertionError(f"nothing to click showing {text!r} ({css}) on {self.driver.current_url}")

    def select_namespace(self, namespace: str) -> int:
        """Pick ``namespace`` in the UI's namespace menu; the mark its calls start at."""
        self.browser.wait(lambda: bool(self.driver.find_elements(By.ID, "namespace-select")), SETTLE_S)
        since = self.browser.mark()

        def names() -> list[str]:  # textContent: an option still sliding in has no visible text yet
            return [str(o.get_attribute("textContent"))
                    for o in self.driver.find_elements(By.CSS_SELECTOR, "li[role=option]")]

        def chosen() -> bool:
            return bool(self.driver.find_element(By.ID, "namespace-select").text == namespace)

        for _ in range(3):  # a click while the menu still slides in is lost: try again
            if chosen():
                break
            if namespace not in names():
                self.driver.find_element(By.ID, "namespace-select").click()
                self.browser.wait(lambda: namespace in names(), SETTLE_S)
            assert namespace in names(), f"namespace {namespace!r} is not in the UI's menu: {names()}"
            try:
                option = self.driver.find_elements(By.CSS_SELECTOR, "li[role=option]")[names().index(namespace)]
                self.browser.wait(option.is_displayed, SETTLE_S)
                time.sleep(0.4)  # the menu's opening transition
                self.browser.js("arguments[0].scrollIntoView({block: 'center'})", option)
                option.click()
            except WebDriverException:  # the menu re-rendered under the click
                continue
            self.browser.wait(chosen, 5)
        assert chosen(), f"the UI's namespace menu did not switch to {namespace!r}"
        return since

    def rows(self, scope: str = "") -> list[list[str]]:
        """The visible body rows of the tables under ``scope`` (a CSS selector), as cell texts."""
        rows: list[list[str]] = self.browser.js(
            "return [...document.querySelectorAll(arguments[0])].filter(r => r.getClientRects().length)"
            ".map(r => [...r.querySelectorAll('td')].map(td => td.innerText.trim()))", f"{scope} tbody tr".strip())
        return rows

    def drawer(self) -> WebElement | None:
        found = self.driver.find_elements(By.CSS_SELECTOR, DRAWER)
        return next((d for d in found if d.is_displayed()), None)

    def drawer_text(self) -> str:
        """What the open detail drawer shows ("" when none is open)."""
        drawer = self.drawer()
        return str(drawer.text) if drawer is not None else ""

    # -- graphs ---------------------------------------------------------------------------------------------

    def edges(self) -> set[tuple[str, str]]:
        """The edges the graph draws, as (from node id, to node id): each is an SVG ``polyline`` whose id is
        ``<from>-<to>`` (the minimap draws them again, and an animated copy has ``-animated``)."""
        ids = self.browser.js("return [...document.querySelectorAll('svg polyline[id]')].map(p => p.id)")
        found = set()
        for pid in ids:
            if pid.endswith("-animated"):
                continue
            m = re.match(r"^(.+?)-((?:job|dataset|datasetField):.+)$", pid)
            if m:
                found.add((m.group(1), m.group(2)))
        return found

    def node_labels(self) -> list[str]:
        """The texts of the graph's SVG ``text`` elements (kind labels, truncated names, fields)."""
        texts = self.browser.js("return [...document.querySelectorAll('svg text')].map(t => t.textContent)")
        return [str(t) for t in texts]


def reachable(edges: set[tuple[str, str]], start: str) -> set[str]:
    """Every node a directed path from ``start`` reaches (``start`` included)."""
    seen, todo = {start}, [start]
    while todo:
        here = todo.pop()
        for a, b in edges:
            if a == here and b not in seen:
                seen.add(b)
                todo.append(b)
    return seen


def graph_edges(lineage: dict[str, Any]) -> set[tuple[str, str]]:
    """The edges of a ``GET /lineage`` answer (each node's inEdges and outEdges)."""
    found = set()
    for node in lineage.get("graph", []):
        for e in (node.get("inEdges") or []) + (node.get("outEdges") or []):
            found.add((e["origin"], e["destination"]))
    return found
