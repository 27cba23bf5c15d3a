"""The real Marquez web UI (0.51.1) in headless Chromium against ``lineage serve``: every view a user opens.

Each test opens one view the way a user gets there (a URL the UI itself links to, a click, typing), waits for
it to settle and fails on any 4xx/5xx the UI's calls got, a call left hanging, a view left spinning or empty
(it asserts on what the DOM shows: names, states, fields, SVG graph nodes and edges) and any JavaScript error.
Every view is saved as a screenshot (conftest.artifacts_dir). The store's producers: tests/ui/producers.py
and the demo pipeline (conftest.py).
"""

from __future__ import annotations

import itertools
import re
from functools import partial
from urllib.parse import quote

import pytest
from selenium.webdriver.common.by import By

from . import producers as p
from .conftest import Site
from .page import DRAWER, Page, graph_edges, reachable

DEMO_NS = "demo"
DEMO_STEPS = ("load", "preprocess", "train", "evaluate")
DEMO_JOBS = [f"demo_pipeline.{s}" for s in DEMO_STEPS]
ORDERS = f"dataset:{p.ORDERS[0]}:{p.ORDERS[1]}"
DAILY = f"dataset:{p.ORDERS_DAILY[0]}:{p.ORDERS_DAILY[1]}"
SPARK = f"job:{p.SPARK_NS}:{p.SPARK_JOB}"
REPORT = f"job:{p.REPORT_NS}:{p.REPORT_JOB}"
SUMMARY = f"dataset:{p.SUMMARY[0]}:{p.SUMMARY[1]}"

pytestmark = pytest.mark.slow  # a server, the UI's node server and a browser: about a minute for the module


def q(text: str) -> str:
    return quote(text, safe="")


def node_path(kind: str, namespace: str, name: str, drawer: bool = False) -> str:
    """The UI's own link to a node's page (``encodeNode``); ``drawer``: with its detail drawer open."""
    path = f"/lineage/{kind}/{q(namespace)}/{q(name)}"
    return path + (f"?tableLevelNode={q(f'{kind}:{namespace}:{name}')}" if drawer else "")


def last_10_runs(page: Page) -> dict[str, list[str]]:
    """Each dashboard job card's LAST 10 RUNS bars: job name -> the colours of its run bars (the grey
    padding bars, in the theme's divider colour, left out)."""
    cards = page.browser.js("""
        return [...document.querySelectorAll('*')]
          .filter(e => e.childElementCount === 0 && e.textContent === 'LAST 10 RUNS')
          .map(label => {
            const card = label.parentElement.parentElement.parentElement;
            const hr = card.querySelector('hr');
            return {name: card.firstElementChild.innerText.split('\\n')[0].trim(),
                    divider: hr ? getComputedStyle(hr).borderTopColor : null,
                    bars: [...label.nextElementSibling.children].map(b => getComputedStyle(b).backgroundColor)};
          });""")
    return {c["name"]: [b for b in c["bars"] if b != c["divider"]] for c in cards}


def test_dashboard_charts_and_job_cards(site: Site, page: Page) -> None:
    since = page.open("/")

    def ready() -> str | None:
        text = page.text()
        total = re.search(r"(\d+) EVENTS?\b", text)
        if not total or int(total.group(1)) == 0:
            return f"the lineage-events chart counts no events ({total.group(0) if total else 'no count shown'})"
        lines = page.browser.js("return document.querySelectorAll('path.MuiLineElement-root').length")
        if lines < 7:
            return f"{lines} chart lines drawn, not 7 (4 lineage-event series, datasets, sources, jobs)"
        missing = [j for j in [*DEMO_JOBS, p.SPARK_JOB, p.REPORT_JOB] if j not in text]
        return f"no job card for {missing}" if missing else None

    calls = page.check("dashboard", since, ready)
    week = page.browser.mark()
    page.click_text("7 DAYS", "button")
    weekly = page.check("dashboard-7-days", week, lambda: ready() if page.browser.api_calls(week) else "no call yet")
    periods = sorted(c.path.split("?")[0] for c in weekly if "period=WEEK" in c.path)
    assert len(periods) == 4, f"7 DAYS asked for {periods}, not the four stats"
    jobs = page.response(calls, "/api/v1/jobs?")
    shown = min(10, jobs["totalCount"])
    cards = last_10_runs(page)
    assert len(cards) == shown, f"{len(cards)} job cards for {jobs['totalCount']} jobs: {sorted(cards)}"
    for stat in ("lineage-events", "jobs", "datasets", "sources"):
        assert page.response(calls, f"/api/v1/stats/{stat}?period=DAY"), f"/stats/{stat} answered nothing"
    figures = page.browser.js("""
        return [...document.querySelectorAll('*')]
          .filter(e => e.childElementCount === 0 && ['DATASETS', 'SOURCES', 'JOBS'].includes(e.textContent)
                       && e.parentElement.childElementCount === 2)
          .map(e => [e.textContent, e.parentElement.lastElementChild.textContent]);""")
    assert dict(figures).get("JOBS") == str(jobs["totalCount"]), (
        f"the mini charts' figures are {figures}: JOBS should be the {jobs['totalCount']} jobs the server has")


def test_dashboard_last_10_runs(site: Site, page: Page) -> None:
    since = page.open("/")
    page.check("dashboard-last-10-runs", since, lambda: None if p.REPORT_JOB in last_10_runs(page) else
               f"no card for {p.REPORT_JOB}")
    cards = last_10_runs(page)
    wrong = {}
    for name, bars in cards.items():
        namespace = next((e["job"]["namespace"] for e in site.events if e["job"]["name"] == name), None)
        if namespace is None:
            continue  # a job no event names (a parent job)
        expected = min(10, site.runs_of(namespace, name))
        if len(bars) != expected:
            wrong[name] = f"{len(bars)} bars, {site.runs_of(namespace, name)} runs"
    assert not wrong, f"LAST 10 RUNS shows the wrong number of runs: {wrong}"
    report = cards[p.REPORT_JOB]
    colours = sorted(report.count(c) for c in set(report))
    assert colours == [1, 9], f"{p.REPORT_JOB}'s last 10 runs should be 9 COMPLETED and 1 FAILED bar: {report}"


def test_jobs_list(site: Site, page: Page) -> None:
    page.open("/jobs")
    since = page.select_namespace(DEMO_NS)

    def ready() -> str | None:
        rows = {r[0]: r for r in page.rows() if r}
        missing = [j for j in DEMO_JOBS if j not in rows]
        if missing:
            return f"no row for {missing} (rows: {sorted(rows)})"
        states = {j: rows[j][-1] for j in DEMO_JOBS}
        return None if set(states.values()) == {"COMPLETED"} else f"latest run states {states}"

    page.check("jobs", since, ready)
    assert f"{len(DEMO_JOBS)} total" in page.text()


def test_job_page(site: Site, page: Page) -> None:
    job = "demo_pipeline.train"
    since = page.open(node_path("job", DEMO_NS, job, drawer=True))

    def ready() -> str | None:
        drawer = page.drawer()
        if drawer is None:
            return "no job drawer"
        text = drawer.text
        wanted = [job, "RUNNING STATUS", "COMPLETED", "LATEST RUN", "RUN FACETS", "lineage_cache",
                  "lineage_environment"]
        missing = [w for w in wanted if w not in text]
        return f"the job drawer lacks {missing}" if missing else None

    calls = page.check("job", since, ready)
    facets = [c for c in calls if "/facets?type=job" in c.path]
    assert facets, f"the job page never asked for its run's job facets: {[str(c) for c in calls]}"


def test_airflow_task_page(site: Site, page: Page) -> None:
    """A task of the example DAG: its parent job is the DAG, its latest run the second DAG run's cache hit."""
    job = f"{p.DAG}.train"
    since = page.open(node_path("job", p.AIRFLOW_NS, job, drawer=True))

    def ready() -> str | None:
        text = page.drawer_text()
        parent = re.search(r"PARENT JOB\s*\n\s*(\S+)", text)
        if not parent or parent.group(1) != p.DAG:
            return f"the parent job shown is {parent.group(1) if parent else 'nothing'}, not {p.DAG}"
        missing = [w for w in ("COMPLETED", "RUN FACETS", "lineage_cache", "sourceRunId", "AIRFLOW") if w not in text]
        return f"the task's drawer lacks {missing}" if missing else None

    page.check("job-airflow-task", since, ready)


def test_run_page(site: Site, page: Page) -> None:
    page.open(node_path("job", p.REPORT_NS, p.REPORT_JOB, drawer=True))
    page.browser.wait(lambda: "RUN HISTORY" in page.drawer_text(), 25)
    since = page.browser.mark()
    page.click_text("RUN HISTORY", "[role=tab]")

    def history() -> str | None:
        rows = page.rows(DRAWER)
        states = [r[1] for r in rows if len(r) > 1]
        if len(rows) != 10 or states.count("FAILED") != 1:
            return f"the run history shows {len(rows)} runs ({states}), not 10 with one FAILED"
        return None

    page.check("run-history", since, history)
    failed = next(r for r in page.driver.find_elements(By.CSS_SELECTOR, f"{DRAWER} tbody tr")
                  if "FAILED" in r.text)
    since = page.browser.mark()
    failed.click()

    def run() -> str | None:
        text = page.drawer_text()
        missing = [w for w in ("RUN FACETS", "errorMessage", "division by zero") if w not in text]
        return f"the run's page lacks {missing}" if missing else None

    page.check("run", since, run)


def test_datasets_list(site: Site, page: Page) -> None:
    page.open("/datasets")
    since = page.select_namespace(p.ORDERS_DAILY[0])

    def ready() -> str | None:
        names = {r[0] for r in page.rows() if r}
        missing = [n for n in (p.ORDERS_DAILY[1], p.SUMMARY[1]) if n not in names]
        return f"no row for {missing} (rows: {sorted(names)})" if missing else None

    page.check("datasets", since, ready)


def test_dataset_page(site: Site, page: Page) -> None:
    since = page.open(node_path("dataset", *p.ORDERS_DAILY, drawer=True))

    def ready() -> str | None:
        rows = {r[0]: r for r in page.rows(DRAWER) if r}
        missing = [f for f in p.DAILY_FIELDS if f not in rows]
        if missing:
            return f"the schema lacks fields {missing} (rows {sorted(rows)})"
        types = {f: rows[f][1] for f in p.DAILY_FIELDS}
        return None if types == p.DAILY_FIELDS else f"field types {types}, sent {p.DAILY_FIELDS}"

    page.check("dataset", since, ready)
    assert f"{len(p.DAILY_FIELDS)} columns" in page.drawer_text()


def test_dataset_version_history(site: Site, page: Page) -> None:
    """The report writes its summary with no version facet: Marquez still makes one version per write."""
    page.open(node_path("dataset", *p.SUMMARY, drawer=True))
    page.browser.wait(lambda: "VERSION HISTORY" in page.drawer_text(), 25)
    since = page.browser.mark()
    page.click_text("VERSION HISTORY", "[role=tab]")
    writes = p.REPORT_RUNS - 1  # the failed run wrote nothing

    def ready() -> str | None:
        rows = page.rows(DRAWER)
        if len(rows) != min(10, writes):
            return f"{len(rows)} versions listed, the report wrote the dataset {writes} times"
        no_run = [r for r in rows if len(r) < 4 or r[3] in ("", "N/A")]
        return f"versions without the run that made them: {no_run}" if no_run else None

    calls = page.check("dataset-versions", since, ready)
    versions = page.response(calls, "/api/v1/namespaces/")
    assert versions.get("totalCount", len(versions["versions"])) == writes, versions.get("totalCount")


def _graph_ready(page: Page, wanted: set[tuple[str, str]]) -> str | None:
    missing = wanted - page.edges()
    return f"edges not drawn: {sorted(missing)} (drawn: {sorted(page.edges())})" if missing else None


def test_job_lineage_graph(site: Site, page: Page) -> None:
    since = page.open(node_path("job", p.SPARK_NS, p.SPARK_JOB))
    wanted = {(ORDERS, SPARK), (SPARK, DAILY), (DAILY, REPORT)}
    page.check("lineage-job", since, lambda: _graph_ready(page, wanted))
    labels = page.node_labels()
    assert labels.count("JOB") >= 2 and labels.count("DATASET") >= 2, labels


def test_dataset_lineage_graph(site: Site, page: Page) -> None:
    since = page.open(node_path("dataset", *p.ORDERS_DAILY))
    wanted = {(ORDERS, SPARK), (SPARK, DAILY), (DAILY, REPORT), (REPORT, SUMMARY)}
    page.check("lineage-dataset", since, lambda: _graph_ready(page, wanted))
    assert any(f"- {f}" in page.node_labels() for f in p.DAILY_FIELDS), "the dataset nodes show no fields"


def test_demo_pipeline_is_one_connected_graph(site: Site, page: Page) -> None:
    """load -> preprocess -> train -> evaluate: each step reaches the next through what it wrote, in the
    /lineage answer the UI got and in the edges it draws (depth 4 reaches load from train in node hops too)."""
    jobs = [f"job:{DEMO_NS}:{j}" for j in DEMO_JOBS]
    since = page.open(node_path("job", DEMO_NS, "demo_pipeline.train") + "?depth=4")

    def chained(edges: set[tuple[str, str]]) -> str | None:
        broken = [f"{a} -> {b}" for a, b in itertools.pairwise(jobs) if b not in reachable(edges, a)]
        return f"no path {broken}" if broken else None

    def ready() -> str | None:
        problem = chained(page.edges())
        return f"the graph drawn: {problem} ({len(page.edges())} edges drawn)" if problem else None

    calls = page.check("lineage-demo", since, ready)
    answer = page.response(calls, "/api/v1/lineage?")
    problem = chained(graph_edges(answer))
    assert problem is None, f"the /lineage answer: {problem}"


def test_column_lineage(site: Site, page: Page) -> None:
    page.open(node_path("dataset", *p.ORDERS_DAILY, drawer=True))
    page.browser.wait(lambda: bool(page.rows(DRAWER)), 25)
    buttons = {r.find_element(By.CSS_SELECTOR, "td").text: r.find_elements(By.CSS_SELECTOR, "a, button")
               for r in page.driver.find_elements(By.CSS_SELECTOR, f"{DRAWER} tbody tr")}
    disabled = [f for f, b in buttons.items() if not b or "Mui-disabled" in (b[-1].get_attribute("class") or "")]
    page.screenshot("dataset-column-lineage-buttons")
    assert not disabled, (f"the column-lineage button of {disabled} is disabled: the dataset the UI got has no "
                          "columnLineage for them")
    since = page.browser.mark()
    buttons["total_amount"][-1].click()
    field = "datasetField:{}:{}:{}"
    wanted = {(field.format(*p.ORDERS, src), field.format(*p.ORDERS_DAILY, out))
              for out, sources in p.DAILY_FROM.items() for src, _, _ in sources}

    def ready() -> str | None:
        if "/datasets/column-level/" not in page.driver.current_url:
            return "the button did not open the column-level view"
        missing = [c for c in list(p.DAILY_FIELDS) + list(p.ORDERS_FIELDS) if c not in page.node_labels()]
        return f"no column node for {missing}" if missing else _graph_ready(page, wanted)

    page.check("column-lineage", since, ready)


def test_search(site: Site, page: Page) -> None:
    """Typed into the box a key at a time: the UI sends one search at a time and drops keys typed meanwhile."""
    page.open("/jobs")
    page.browser.wait(lambda: bool(page.driver.find_elements(By.ID, "searchBar")), 25)
    box = page.driver.find_element(By.ID, "searchBar")
    since = page.browser.mark()

    def answered(prefix: str) -> bool:
        return any(f"q={prefix}&" in c.url and c.done for c in page.browser.api_calls(since))

    typed = ""
    for key in "orders":
        typed += key
        box.send_keys(key)
        page.browser.wait(partial(answered, typed), 25)
    wanted = {f"/lineage/job/{q(p.SPARK_NS)}/{q(p.SPARK_JOB)}",
              f"/lineage/dataset/{q(p.ORDERS[0])}/{q(p.ORDERS[1])}",
              f"/lineage/dataset/{q(p.ORDERS_DAILY[0])}/{q(p.ORDERS_DAILY[1])}"}

    def links() -> set[str]:
        hrefs = page.browser.js("return [...document.querySelectorAll('a[href*=\"/lineage/\"]')]"
                                ".map(a => a.getAttribute('href'))")
        return {h.split("?")[0] for h in hrefs}

    def ready() -> str | None:
        missing = wanted - links()
        return f"no result for {sorted(missing)} (results: {sorted(links())})" if missing else None

    calls = page.check("search", since, ready)
    searched = [c for c in calls if c.path.startswith("/api/v1/search?")]
    assert searched and f"q={typed}&" in searched[-1].url, [str(c) for c in searched]
    since = page.browser.mark()
    page.driver.find_element(By.CSS_SELECTOR, f'a[href^="{next(iter(sorted(wanted)))}"]').click()
    page.check("search-result", since, lambda: None if page.node_labels().count("JOB") else "no graph opened")


def test_events(site: Site, page: Page) -> None:
    window = f"dateFrom={site.since:%Y-%m-%dT%H:%M:%S}.000Z&dateTo=2099-12-31T23:59:59.000Z"
    since = page.open(f"/events?{window}")

    def ready() -> str | None:
        total = re.search(r"(\d+) total", page.text())
        if not total or int(total.group(1)) < len(site.events):
            return f"the events view counts {total.group(0) if total else 'nothing'}, {len(site.events)} were sent"
        rows = [" ".join(r) for r in page.rows()]
        wanted = [("FAIL", p.REPORT_JOB), ("COMPLETE", "demo_pipeline.train")]
        missing = [w for w in wanted if not any(w[0] in r and w[1] in r for r in rows)]
        return f"no event row for {missing}" if missing else None

    page.check("events", since, ready)
