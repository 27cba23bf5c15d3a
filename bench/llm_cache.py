"""LLM call cache: what a hit costs, against a direct SDK call and against LangChain's own caches, in one run.

- **SDK**: the official ``openai`` client, ``chat.completions.create`` with a small prompt, median of N calls:
  ``direct`` to the loopback OpenAI-compatible server (tests/services/openai_stub.py, HTTP on 127.0.0.1, no
  cache); ``floor`` through an in-memory transport that returns a fixed answer (the SDK's own cost: building
  the request, parsing the answer); ``hit`` through ``CachingTransport`` on the embedded SQLite store, the entry
  warm. A hit's overhead is ``hit − floor``: canonical key, lookup, verified read, the CACHED child run.
- **LangChain**: ``FakeListChatModel.invoke`` with ``set_llm_cache`` of ``LineageLLMCache`` (SQLite store, a
  child run per hit) and of LangChain's ``SQLiteCache`` (langchain_community) when installed — else of
  langchain_core's ``InMemoryCache`` (a dict, no persistence), which says so in the output. Per ``invoke`` the
  model's own work (a no-cache ``invoke``) is in both figures, so the caches are also compared directly:
  ``cache.lookup(prompt, llm_string)`` on each, with the very strings LangChain passes them, interleaved. Ours is
  checked to hit every time and to record every hit as a CACHED child run (counted in the store afterwards).

Run: ``.venv/bin/python bench/llm_cache.py`` (``BENCH_N`` calls per measurement, default 500); when
``langchain_community`` is not installed here and bench/setup_peers.sh built ``.bench/venv-llm`` (the core's pins of
langchain-core, openai and httpx, plus langchain_community), the script re-runs itself there, so every figure
comes from one process (``make bench`` builds that venv and runs this from bench/run_all.py).
``BENCH_PROFILE=1`` prints a cProfile of the SDK hits instead, ``BENCH_PROFILE=langchain`` one of our lookups.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PEER_VENV = ROOT / ".bench" / "venv-llm"  # bench/setup_peers.sh: the core's LLM pins + langchain_community
try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # langchain_community announces its sunset on import
        import langchain_community  # noqa: F401 - LangChain's SQLiteCache lives there
except ImportError:
    if (PEER_VENV / "bin" / "python").exists() and Path(sys.prefix).resolve() != PEER_VENV.resolve():
        os.execv(str(PEER_VENV / "bin" / "python"), [str(PEER_VENV / "bin" / "python"), *sys.argv])
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ["LINEAGE_HOME"] = tempfile.mkdtemp(prefix="bench-llm-")

import httpx  # noqa: E402
from common import emit, median_ms  # noqa: E402

from lineage_core.runtime import default_store  # noqa: E402
from tests.services.openai_stub import OpenAIStub, sdk_client  # noqa: E402

REQUEST: dict[str, Any] = {"model": "gpt-4o-mini", "temperature": 0,
                           "messages": [{"role": "system", "content": "You answer arithmetic questions."},
                                        {"role": "user", "content": "What is 6 * 7? Answer with the number."}]}


class FixedTransport(httpx.BaseTransport):
    """The SDK's cost floor: every request answered at once with one stored body."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        return httpx.Response(200, headers={"content-type": "application/json"}, content=self.body, request=request)


def interleaved(fns: dict[str, Callable[[], object]], n: int, warmup: int = 20) -> dict[str, float]:
    """Median ms per call of each function, called in turn (so a busy machine slows them alike): wall clock,
    and as ``<name>_cpu`` the calling thread's CPU time (what the call itself costs, whatever else the machine
    runs; a direct call's server works in another thread, so only its wall clock means anything)."""
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(warmup + n):
        for name, fn in fns.items():
            t, c = time.perf_counter(), time.thread_time()
            fn()
            if i >= warmup:
                cpu[name].append(time.thread_time() - c)
                wall[name].append(time.perf_counter() - t)
    out = {name: statistics.median(s) * 1000 for name, s in wall.items()}
    return {**out, **{name.replace("_ms", "_cpu_ms"): statistics.median(s) * 1000 for name, s in cpu.items()}}


def core_hit(n: int) -> float:
    """The core's own hit path in this run (``@cached def add``; bench/bench_hit_path.py): the load yardstick."""
    from lineage_core import cached

    def add(a: int, b: int) -> int:
        return a + b

    step = cached(add)
    step(1, 2)
    return median_ms(lambda: step(1, 2), n)


def sdk(n: int) -> dict[str, float]:
    from lineage_core.llm import CachingTransport

    stub = OpenAIStub().start()
    try:
        direct = sdk_client(stub, transport=httpx.HTTPTransport())
        body = direct.chat.completions.with_raw_response.create(**REQUEST).http_response.content
        floor = sdk_client(stub, transport=FixedTransport(body))
        cached = sdk_client(stub, transport=CachingTransport())
        cached.chat.completions.create(**REQUEST)  # the miss that stores the entry
        before = stub.count()
        out = interleaved({
            "direct_ms": lambda: direct.chat.completions.create(**REQUEST),
            "floor_ms": lambda: floor.chat.completions.create(**REQUEST),
            "hit_ms": lambda: cached.chat.completions.create(**REQUEST),
        }, n)
        assert stub.count() - before == n + 20, "a hit reached the server"  # only the direct calls did
    finally:
        stub.stop()
    out["hit_overhead_ms"] = out["hit_ms"] - out["floor_ms"]
    out["hit_overhead_cpu_ms"] = out["hit_cpu_ms"] - out["floor_cpu_ms"]
    return out


def langchain(n: int) -> dict[str, Any]:
    warnings.filterwarnings("ignore")  # SQLiteCache's loads() warns on every hit: not what is measured
    from langchain_core.caches import BaseCache, InMemoryCache
    from langchain_core.globals import set_llm_cache
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from lineage_core.llm import LineageLLMCache

    peer: BaseCache
    try:
        from langchain_community.cache import SQLiteCache

        peer, peer_name = SQLiteCache(database_path=os.path.join(tempfile.mkdtemp(), "lc.db")), "SQLiteCache"
    except ImportError:
        peer, peer_name = InMemoryCache(), "InMemoryCache (langchain_community, and so SQLiteCache, not installed)"
    model = FakeListChatModel(responses=["42", "unused"])
    prompt = "What is 6 * 7? Answer with the number."

    ours = LineageLLMCache()

    def under(cache: BaseCache | None) -> Callable[[], object]:
        def call() -> object:
            set_llm_cache(cache)
            return model.invoke(prompt)
        return call

    for cache in (ours, peer):
        under(cache)()  # the miss that stores the entry
    out: dict[str, Any] = interleaved({"no_cache_ms": under(None), "ours_ms": under(ours), "peer_ms": under(peer)}, n)
    prompt_, llm_string = lookup_args(model, prompt)
    set_llm_cache(None)
    store, job = default_store(), "llm.langchain"
    recorded = len(store.runs(job=job, limit=1_000_000))

    def lookup(cache: BaseCache) -> Callable[[], object]:
        def call() -> object:
            found = cache.lookup(prompt_, llm_string)
            assert found, f"{type(cache).__name__}.lookup missed"
            return found
        return call

    direct = interleaved({"ours_lookup_ms": lookup(ours), "peer_lookup_ms": lookup(peer)}, n)
    hits = len(store.runs(job=job, limit=1_000_000)) - recorded
    assert hits == n + 20, f"{hits} CACHED runs recorded for {n + 20} lookups"  # every hit counted, with its saving
    all_in = {"ours_all_in_cpu_ms": all_in_cpu(lookup(ours), n), "peer_all_in_cpu_ms": all_in_cpu(lookup(peer), n)}
    return {**out, **direct, **all_in, "peer": peer_name, "lookups_recorded": hits}


def all_in_cpu(fn: Callable[[], object], n: int) -> float:
    """The process's CPU time (every thread) per call over ``n`` calls in a row, with the hit journal committed at
    the end: what a hit costs in all, including its CACHED run's encoding and commit, which happen off the caller's
    thread (lineage_core.store.hit_journal) and so are not in the per-call figures."""
    from lineage_core.store import hit_journal

    hit_journal.flush_all()
    start = time.process_time()
    for _ in range(n):
        fn()
    hit_journal.flush_all()
    return (time.process_time() - start) / n * 1000


def lookup_args(model: Any, prompt: str) -> tuple[str, str]:
    """The (prompt, llm_string) LangChain passes a cache for this ``invoke`` (a cache that records and misses)."""
    from langchain_core.caches import BaseCache
    from langchain_core.globals import set_llm_cache

    class Recorder(BaseCache):
        args: tuple[str, str] = ("", "")

        def lookup(self, prompt: str, llm_string: str) -> None:
            Recorder.args = (prompt, llm_string)

        def update(self, prompt: str, llm_string: str, return_val: Any) -> None:
            pass

        def clear(self, **kwargs: Any) -> None:
            pass

    set_llm_cache(Recorder())
    model.invoke(prompt)
    return Recorder.args


def profile(n: int, what: str) -> None:
    """``BENCH_PROFILE=1``: cProfile of ``n`` SDK hits through CachingTransport; ``=langchain``: of ``n``
    ``LineageLLMCache.lookup`` hits. The functions by own time."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    if what == "langchain":
        from langchain_core.globals import set_llm_cache
        from langchain_core.language_models.fake_chat_models import FakeListChatModel

        from lineage_core.llm import LineageLLMCache

        ours, model = LineageLLMCache(), FakeListChatModel(responses=["42"])
        set_llm_cache(ours)
        model.invoke("What is 6 * 7?")
        args = lookup_args(model, "What is 6 * 7?")
        profiler.enable()
        for _ in range(n):
            ours.lookup(*args)
        profiler.disable()
    else:
        from lineage_core.llm import CachingTransport

        stub = OpenAIStub().start()
        try:
            cached = sdk_client(stub, transport=CachingTransport())
            cached.chat.completions.create(**REQUEST)
            profiler.enable()
            for _ in range(n):
                cached.chat.completions.create(**REQUEST)
            profiler.disable()
        finally:
            stub.stop()
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)


def main() -> None:
    n = int(os.environ.get("BENCH_N", "500"))
    if os.environ.get("BENCH_PROFILE"):
        return profile(n, os.environ["BENCH_PROFILE"])
    s, lc, core = sdk(n), langchain(n), core_hit(n)
    rows = [
        ("openai SDK, direct call to the loopback server", s["direct_ms"], "–", ""),
        ("openai SDK, fixed in-memory answer (the SDK's floor)", s["floor_ms"], s["floor_cpu_ms"], ""),
        ("openai SDK through CachingTransport, hit", s["hit_ms"], s["hit_cpu_ms"],
         f"{s['direct_ms'] / s['hit_ms']:.2f}× the direct call's speed; overhead per hit {s['hit_overhead_ms']:.3f} ms "
         f"wall, {s['hit_overhead_cpu_ms']:.3f} ms CPU"),
        ("LangChain FakeListChatModel, no cache", lc["no_cache_ms"], lc["no_cache_cpu_ms"], ""),
        ("LangChain, LineageLLMCache hit", lc["ours_ms"], lc["ours_cpu_ms"],
         f"{lc['peer_ms'] / lc['ours_ms']:.2f}× the speed of {lc['peer']} per call; the cache's own cost (over no "
         f"cache) {(lc['peer_ms'] - lc['no_cache_ms']) / max(lc['ours_ms'] - lc['no_cache_ms'], 1e-9):.2f}× lower"),
        (f"LangChain, {lc['peer']} hit", lc["peer_ms"], lc["peer_cpu_ms"], ""),
        ("LineageLLMCache.lookup, hit (verified, recorded as a CACHED child run)", lc["ours_lookup_ms"],
         lc["ours_lookup_cpu_ms"], f"{lc['peer_lookup_ms'] / lc['ours_lookup_ms']:.2f}× the speed of {lc['peer']}"
         f".lookup ({lc['peer_lookup_cpu_ms'] / lc['ours_lookup_cpu_ms']:.2f}× in CPU)"),
        (f"{lc['peer']}.lookup, hit", lc["peer_lookup_ms"], lc["peer_lookup_cpu_ms"], ""),
        ("LineageLLMCache.lookup, all threads' CPU per hit, its run record's commit included (not interleaved)",
         lc["ours_all_in_cpu_ms"], lc["ours_all_in_cpu_ms"],
         f"{lc['peer_all_in_cpu_ms'] / lc['ours_all_in_cpu_ms']:.2f}× less than {lc['peer']}.lookup's"),
        (f"{lc['peer']}.lookup, all threads' CPU per hit (not interleaved)", lc["peer_all_in_cpu_ms"],
         lc["peer_all_in_cpu_ms"], ""),
        ("yardstick: the core's @cached hit in this run (bench_hit_path)", core, "–", ""),
    ]
    print("| measurement (median) | ms per call (wall) | ms CPU | ratio |\n|---|---|---|---|")
    for name, ms, cpu, ratio in rows:
        shown = cpu if isinstance(cpu, str) else f"{cpu:.3f}"
        print(f"| {name} | {ms:.3f} | {shown} | {ratio} |")
    print(f"\ntarget: hit overhead ≤ 1 ms ({'met' if s['hit_overhead_ms'] <= 1 else 'NOT met'} in wall clock, "
          f"{'met' if s['hit_overhead_cpu_ms'] <= 1 else 'NOT met'} in CPU time); "
          f"LineageLLMCache ≥ 5× faster than LangChain's SQLiteCache: "
          + (f"lookup {lc['peer_lookup_ms'] / lc['ours_lookup_ms']:.2f}× "
             f"({'met' if lc['peer_lookup_ms'] >= 5 * lc['ours_lookup_ms'] else 'NOT met'}), per invoke "
             f"{lc['peer_ms'] / lc['ours_ms']:.2f}× (N={n})" if lc["peer"] == "SQLiteCache"
             else f"not measurable: {lc['peer']}"))
    emit({"bench": "llm_cache", "n": n, **s, **{f"langchain_{k}": v for k, v in lc.items()}, "core_hit_ms": core})


if __name__ == "__main__":
    main()
