"""The openai SDK through CachingTransport against a loopback OpenAI-compatible server: what is one call,
what is another (and how a miss names the field that changed), what is never stored, and the runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from lineage_core import cached
from lineage_core.llm import llm_cache, sampling
from lineage_core.runtime import default_store

from .services.openai_stub import API_KEY, ORGANIZATION, PROJECT, OpenAIStub, sdk_client

MESSAGES = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What is 6 * 7?"}]
BASE: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MESSAGES, "temperature": 0, "seed": 7}
TOOL = {"type": "function", "function": {"name": "calculator", "description": "Evaluates arithmetic.",
                                         "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIStub]:
    stub = OpenAIStub().start()
    yield stub
    stub.stop()


@pytest.fixture
def stub(server: OpenAIStub) -> OpenAIStub:
    server.reset()
    return server


def run_of(raw: Any) -> dict[str, Any]:
    """The child run the transport recorded for one call (its id rides on the response)."""
    return default_store().get_run(raw.headers["x-lineage-run-id"])


def chat(client: Any, **changes: Any) -> Any:
    return client.chat.completions.with_raw_response.create(**{**BASE, **changes})


CALLS = {
    "chat": lambda c: c.chat.completions.create(**BASE).choices[0].message.content,
    "tool call": lambda c: c.chat.completions.create(**BASE, tools=[TOOL]).choices[0].message.tool_calls[0].function
    .arguments,
    "responses": lambda c: c.responses.create(model="gpt-4o-mini", input="What is 6 * 7?", temperature=0).output_text,
    "responses tool call": lambda c: c.responses.create(
        model="gpt-4o-mini", input="What is 6 * 7?", temperature=0,
        tools=[{"type": "function", "name": "calculator", "parameters": TOOL["function"]["parameters"]}],  # type: ignore[index]
    ).output[0].arguments,
    "embeddings": lambda c: c.embeddings.create(model="text-embedding-3-small", input=["six", "seven"]).data[1]
    .embedding,
}


@pytest.mark.parametrize("name", list(CALLS))
def test_the_same_request_twice_is_one_upstream_call(stub: OpenAIStub, name: str) -> None:
    client = sdk_client(stub)
    first = CALLS[name](client)
    second = CALLS[name](sdk_client(stub))  # another client: the store is what they share
    assert first == second and first
    assert stub.count() == 1
    runs = default_store().runs()
    assert sorted(r["status"] for r in runs) == ["CACHED", "COMPLETED"]
    hit = next(r for r in runs if r["status"] == "CACHED")
    assert hit["source_run_id"] == next(r["id"] for r in runs if r["status"] == "COMPLETED")


CHANGES = [
    ("model", {"model": "gpt-4o"}, "model gpt-4o-mini → gpt-4o"),
    ("messages", {"messages": [*MESSAGES[:1], {"role": "user", "content": "What is 6 * 8?"}]}, "messages changed"),
    ("temperature", {"temperature": 0.7}, "temperature 0 → 0.7"),
    ("top_p", {"top_p": 0.5}, "top_p 0.5 added"),
    ("seed", {"seed": 8}, "seed 7 → 8"),
    ("response_format", {"response_format": {"type": "json_object"}}, "response_format {'type': 'json_object'} added"),
    ("max_tokens", {"max_tokens": 5}, "max_tokens 5 added"),
    ("max_completion_tokens", {"max_completion_tokens": 9}, "max_completion_tokens 9 added"),
    ("stop", {"stop": ["\n"]}, "stop ['\\n'] added"),
    ("n", {"n": 2}, "n 2 added"),
    ("logit_bias", {"logit_bias": {"1734": -100}}, "logit_bias {'1734': -100} added"),
    ("tools", {"tools": [TOOL]}, "tools [{'function':"),
    ("tool_choice", {"tools": [TOOL], "tool_choice": "none"}, "tool_choice none added"),
    ("presence_penalty", {"presence_penalty": 0.5}, "presence_penalty 0.5 added"),
    ("frequency_penalty", {"frequency_penalty": 0.5}, "frequency_penalty 0.5 added"),
    ("an unknown field", {"extra_body": {"top_k": 40}}, "top_k 40 added"),
]


@pytest.mark.parametrize(("field", "change", "reason"), CHANGES, ids=[c[0] for c in CHANGES])
def test_a_change_in_an_output_affecting_field_is_a_miss_that_names_it(
        stub: OpenAIStub, field: str, change: dict[str, Any], reason: str) -> None:
    client = sdk_client(stub)
    chat(client)
    for _ in range(3):  # other prompts in between: the explanation compares with the nearest, not the newest
        chat(client, messages=[{"role": "user", "content": f"unrelated {_}"}])
    raw = chat(client, **change)
    assert raw.headers["x-lineage-cache"] == "miss"
    assert stub.count() == 5
    reasons = run_of(raw)["reasons"]
    assert any(r.startswith(reason) for r in reasons), reasons
    assert len(reasons) == len(change), reasons  # only what changed


RESPONSES: dict[str, Any] = {"model": "gpt-4o-mini", "input": "What is 6 * 7?", "temperature": 0}
EMBEDDINGS: dict[str, Any] = {"model": "text-embedding-3-small", "input": ["six", "seven"]}
# The fields a chat request does not carry, each on the endpoint that has it: (id, endpoint, base, change, reason).
OTHER_CHANGES = [
    ("endpoint", "chat", BASE, {"base_url": "/v2"}, "endpoint POST /v1/chat/completions → POST /v2/chat/completions"),
    ("responses input", "responses", RESPONSES, {"input": "What is 6 * 8?"},
     "input changed: What is 6 * 7? → What is 6 * 8?"),
    ("responses max_output_tokens", "responses", RESPONSES, {"max_output_tokens": 16}, "max_output_tokens 16 added"),
    ("responses tools", "responses", RESPONSES,
     {"tools": [{"type": "function", "name": "calculator", "parameters": TOOL["function"]["parameters"]}]},
     "tools [{'name': 'calculator'"),
    ("responses text format", "responses", RESPONSES, {"text": {"format": {"type": "json_object"}}},
     "text {'format': {'type': 'json_object'}} added"),
    ("embeddings input", "embeddings", EMBEDDINGS, {"input": ["six", "eight"]}, "input changed: ['six', 'seven'] →"),
    ("embeddings dimensions", "embeddings", EMBEDDINGS, {"dimensions": 8}, "dimensions 8 added"),
]


def call(client: Any, endpoint: str, request: dict[str, Any]) -> Any:
    request = dict(request)
    if "base_url" in request:  # the same body to another endpoint path (a proxy's /v2, say)
        client = client.with_options(base_url=client.base_url.copy_with(path=request.pop("base_url")))
    api = {"chat": client.chat.completions, "responses": client.responses, "embeddings": client.embeddings}
    return api[endpoint].with_raw_response.create(**request)


@pytest.mark.parametrize(("field", "endpoint", "base", "change", "reason"), OTHER_CHANGES,
                         ids=[c[0] for c in OTHER_CHANGES])
def test_a_change_in_the_endpoint_or_another_endpoints_field_is_a_miss_that_names_it(
        stub: OpenAIStub, field: str, endpoint: str, base: dict[str, Any], change: dict[str, Any],
        reason: str) -> None:
    client = sdk_client(stub)
    call(client, endpoint, base)
    raw = call(client, endpoint, {**base, **change})
    assert raw.headers["x-lineage-cache"] == "miss" and stub.count() == 2
    reasons = run_of(raw)["reasons"]
    assert len(reasons) == 1 and reasons[0].startswith(reason), reasons
    assert call(client, endpoint, {**base, **change}).headers["x-lineage-cache"] == "hit" and stub.count() == 2


# What never changes the key: who asks (API key, organisation, project, user ids), the client's timeouts and
# retries, and any header (idempotency, retry counts, tracing). Each alone, then all at once.
NOT_KEY: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("api key", {"api_key": "sk-proj-ANOTHERkey9876543210zzzz"}, {}),
    ("organization and project", {"organization": "org-other", "project": "proj_other"}, {}),
    ("client timeout and retries", {"timeout": 3.0, "max_retries": 5}, {}),
    ("user and caller ids", {}, {"user": "alice@example.com", "safety_identifier": "hash-of-alice"}),
    ("provider bookkeeping", {}, {"metadata": {"run": "42"}, "store": True, "service_tier": "flex",
                                  "prompt_cache_key": "eval-1"}),
    ("per-call timeout", {}, {"timeout": 9.0}),
    ("retry and idempotency headers", {}, {"extra_headers": {
        "Idempotency-Key": "idem-1", "X-Stainless-Retry-Count": "3", "Retry-After": "2", "X-Trace": "t-1"}}),
    ("a field sent as null", {}, {"seed": 7, "stop": None}),
]


@pytest.mark.parametrize(("client_options", "call_options"), [c[1:] for c in NOT_KEY], ids=[c[0] for c in NOT_KEY])
def test_what_does_not_change_the_answer_is_not_in_the_key(stub: OpenAIStub, client_options: dict[str, Any],
                                                           call_options: dict[str, Any]) -> None:
    chat(sdk_client(stub))
    other = sdk_client(stub).with_options(**client_options)
    assert chat(other, **call_options).headers["x-lineage-cache"] == "hit"
    everything = sdk_client(stub).with_options(**{k: v for _, c, _ in NOT_KEY for k, v in c.items()})
    assert chat(everything, **{k: v for _, _, c in NOT_KEY for k, v in c.items()}).headers["x-lineage-cache"] == "hit"
    assert stub.count() == 1


def test_the_api_key_headers_and_caller_ids_are_never_stored(stub: OpenAIStub, lineage_home: Path) -> None:
    client = sdk_client(stub)
    user, marker, idem = "user-7f3a9c", "X-Secret-Marker-5d1e", "idem-key-93c2"
    headers = {"X-Custom": marker, "Idempotency-Key": idem, "X-Stainless-Retry-Count": "4"}
    for stream in (False, True):
        for _ in range(2):
            answer = chat(client, user=user, extra_headers=headers, stream=stream).parse()
            response = client.responses.create(model="gpt-4o-mini", input="hi", temperature=0, user=user,
                                               metadata={"owner": user}, stream=stream,
                                               extra_headers=headers)
            if stream:  # read to the end: a stream holds its call's lease until then
                list(answer), list(response)
            client.embeddings.create(model="text-embedding-3-small", input="hi", user=user)
    sent = {k.lower(): v for k, v in stub.received[0].headers.items()}
    assert sent["authorization"] == f"Bearer {API_KEY}" and sent["openai-organization"] == ORGANIZATION
    assert stub.count() == 5  # the secrets reached upstream; hits answered the rest
    secrets = [API_KEY, ORGANIZATION, PROJECT, user, marker, idem, "Idempotency", "x-stainless", "X-Stainless",
               "Bearer", "authorization"]
    files = [p for p in lineage_home.rglob("*") if p.is_file()]
    assert any("blobs" in p.parts for p in files) and any(p.suffix == ".db" for p in files)
    found = {(p.name, s) for p in files for s in secrets if s.encode() in p.read_bytes()}
    assert found == set()


def test_a_hit_echoes_its_own_callers_fields(stub: OpenAIStub) -> None:
    client = sdk_client(stub)
    first = client.responses.create(model="gpt-4o-mini", input="hi", temperature=0, user="alice")
    second = client.responses.create(model="gpt-4o-mini", input="hi", temperature=0, user="bob", metadata={"k": "v"})
    third = client.responses.create(model="gpt-4o-mini", input="hi", temperature=0)
    assert stub.count() == 1
    assert (first.user, second.user, third.user) == ("alice", "bob", None)
    assert second.metadata == {"k": "v"} and first.output_text == second.output_text == third.output_text


def test_a_damaged_blob_is_never_served_and_a_client_serves_the_bytes_it_verified(stub: OpenAIStub) -> None:
    """A client remembers the answers it read and verified: later hits of them read nothing from disk, so a blob
    damaged after that cannot change what it serves; a client that has not read it yet refuses it and calls again."""
    warm = sdk_client(stub)
    stored = chat(warm).content
    assert chat(warm).content == stored and stub.count() == 1  # read and verified once
    store = default_store()
    entry = store.lookup(store.runs(job="llm.chat.completions")[0]["cache_key"])
    assert entry is not None
    blob = Path(store.artifacts.path_for(entry.artifact_hash))
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes().replace(b"echo", b"ECHO"))  # same size, other bytes
    assert chat(warm).content == stored and stub.count() == 1
    fresh = chat(sdk_client(stub))
    assert stub.count() == 2 and b"ECHO" not in fresh.content  # refused, tombstoned, called again
    assert "failed verification" in " ".join(run_of(fresh)["reasons"])


def test_errors_are_never_stored(stub: OpenAIStub) -> None:
    client = sdk_client(stub)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            chat(client, messages=[{"role": "user", "content": "please fail"}])
    assert stub.count() == 2
    runs = default_store().runs(job="llm.chat.completions")
    assert [r["status"] for r in runs] == ["FAILED", "FAILED"] and "HTTP 500" in runs[0]["error"]


def test_other_endpoints_pass_through_unrecorded(stub: OpenAIStub) -> None:
    client = sdk_client(stub)
    assert [m.id for m in client.models.list()] == [m.id for m in client.models.list()] == ["stub-1"]
    assert stub.count() == 2 and default_store().runs() == []


def test_sampled_requests_are_sent_every_time_by_default(stub: OpenAIStub) -> None:
    client = sdk_client(stub)
    raws = [chat(client, temperature=0.7, seed=None) for _ in range(2)]
    answers = {r.parse().choices[0].message.content for r in raws}
    assert len(answers) == 2 and stub.count() == 2
    assert [r.headers["x-lineage-cache"] for r in raws] == ["bypass"] * 2
    reasons = run_of(raws[0])["reasons"]
    assert reasons == ["temperature 0.7 without a seed: not cached (llm_cache='sample' caches each sample; "
                       "temperature=0 or a seed makes it reproducible)"]
    unset = chat(client, temperature=None, seed=None)  # the API's default temperature is 1: a sample
    assert run_of(unset)["reasons"][0].startswith("temperature unset (the API samples at 1) without a seed")


def answers(client: Any, k: int) -> list[str]:
    return [chat(client, temperature=0.9, seed=None).parse().choices[0].message.content for _ in range(k)]


def test_the_sample_policy_replays_the_kth_sample_to_the_kth_call(stub: OpenAIStub) -> None:
    client = sdk_client(stub, llm_cache="sample")
    with sampling():
        first = answers(client, 3)
    assert len(set(first)) == 3 and stub.count() == 3
    with sampling():
        again = answers(client, 4)
    assert again[:3] == first and again[3] not in first  # a fourth sample is drawn (and stored)
    assert stub.count() == 4
    run = default_store().runs(job="llm.chat.completions")[0]
    assert run["context"]["llm"]["sample"] == 3 and run["reasons"] == ["sample 2 → 3"]


def test_a_step_sets_the_policy_and_is_the_sampling_scope(stub: OpenAIStub) -> None:
    client = sdk_client(stub)  # the client's policy: the default

    @cached(name="t.draw", exclude=["c"])
    def draw(c: Any, k: int, attempt: int) -> list[str]:
        with llm_cache("sample"):
            return answers(c, k)

    first = draw(client, 2, attempt=1)
    second = draw(client, 2, attempt=2)  # another step run: the samples again, in order
    assert first == second and len(set(first)) == 2 and stub.count() == 2


@pytest.mark.parametrize("policy", ["sample", None])
def test_a_step_that_says_llm_cache_sample_replays_its_samples(stub: OpenAIStub, policy: str | None) -> None:
    client = sdk_client(stub)  # the client's policy: the default, which sends every sample

    @cached(name=f"t.samples.{policy}", exclude=["c"], llm_cache=policy)
    def draw(c: Any, attempt: int) -> list[str]:
        return [chat(c, temperature=0.7, seed=None).parse().choices[0].message.content for _ in range(3)]

    first = draw(client, attempt=1)
    assert len(set(first)) == 3 and stub.count() == 3
    second = draw(client, attempt=2)  # another run of the step: a miss, so its body calls again
    if policy == "sample":
        assert second == first and stub.count() == 3  # the 3 stored samples, in order: no upstream call
    else:
        assert len(set(first + second)) == 6 and stub.count() == 6
    calls = default_store().runs(job="llm.chat.completions")
    assert sorted(r["status"] for r in calls) == (["CACHED"] * 3 + ["COMPLETED"] * 3 if policy else ["COMPLETED"] * 6)


def test_the_step_policy_is_checked_when_decorated_and_a_block_inside_wins(stub: OpenAIStub) -> None:
    from lineage_core.errors import ConfigError

    for bad in ("sampled", 1, True):
        with pytest.raises(ConfigError, match="llm_cache"):
            cached(name="t.bad", llm_cache=bad)(lambda: None)  # type: ignore[arg-type]
    client = sdk_client(stub, llm_cache="sample")

    @cached(name="t.off", exclude=["c"], llm_cache="off")
    def ask(c: Any, attempt: int) -> str:
        with llm_cache("deterministic"):  # the innermost setting wins over the step's
            chat(c), chat(c)
        return str(chat(c).parse().choices[0].message.content)  # the step's 'off' over the client's 'sample'

    ask(client, 1)
    assert stub.count() == 2
    assert [r["status"] for r in default_store().runs(job="llm.chat.completions")][::-1] == [
        "COMPLETED", "CACHED", "COMPLETED"]


def test_every_call_is_a_child_run_of_its_step_with_usage_latency_and_cost(stub: OpenAIStub) -> None:
    client = sdk_client(stub)

    @cached(name="t.ask", exclude=["c"])
    def ask(c: Any, question: str, attempt: int) -> str:
        return str(c.chat.completions.create(**{**BASE, "messages": [{"role": "user", "content": question}]})
                   .choices[0].message.content)

    assert ask(client, "What is 2 + 3?", 1) == ask(client, "What is 2 + 3?", 2)
    store = default_store()
    steps = {r["id"]: r for r in store.runs(job="t.ask")}
    miss, hit = sorted(store.runs(job="llm.chat.completions"), key=lambda r: r["started_at"])
    for run in (miss, hit):
        parent = run["context"]["parent"]
        assert parent["run_id"] in steps and parent["name"] == "t.ask" and parent["namespace"] == "default"
    assert miss["context"]["parent"]["run_id"] != hit["context"]["parent"]["run_id"]
    produced = miss["context"]["llm"]
    assert produced["model"] == "gpt-4o-mini" and produced["usage"]["input"] > 0 and produced["usage"]["output"] > 0
    assert produced["latency_s"] > 0 and produced["cost_usd"] > 0
    saved = hit["context"]["llm"]["saved"]
    assert saved == {"latency_s": produced["latency_s"], "tokens": produced["usage"], "cost_usd": produced["cost_usd"]}
    assert hit["context"]["llm"]["cost_usd"] == 0.0 and hit["source_run_id"] == miss["id"]


def test_prices_are_overridable_and_unknown_models_cost_nothing_known(stub: OpenAIStub) -> None:
    from lineage_core.llm import Price

    client = sdk_client(stub, prices={"my-model": Price(input=1_000_000.0, output=0.0)})
    run_a = run_of(chat(client, model="my-model-2025"))
    run_b = run_of(chat(client, model="nobody-knows-this-model"))
    assert run_a["context"]["llm"]["cost_usd"] == run_a["context"]["llm"]["usage"]["input"]  # $1 per token
    assert run_b["context"]["llm"]["cost_usd"] is None


def test_cache_off_sends_everything_and_disabled_records_nothing(stub: OpenAIStub,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    client = sdk_client(stub)
    monkeypatch.setenv("LINEAGE_CACHE", "off")
    chat(client), chat(client)
    assert stub.count() == 2 and {r["status"] for r in default_store().runs()} == {"COMPLETED"}
    monkeypatch.setenv("LINEAGE_CACHE", "readwrite")
    monkeypatch.setenv("LINEAGE_DISABLED", "true")
    chat(client), chat(client)
    assert stub.count() == 4 and len(default_store().runs()) == 2
    off = sdk_client(stub, llm_cache="off")
    monkeypatch.delenv("LINEAGE_DISABLED")
    off.chat.completions.create(**BASE), off.chat.completions.create(**BASE)
    assert stub.count() == 6
