"""docclass.invocation and process_event: messages start only while they can finish, and not after a throttle."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import FakeLambdaContext, load_event
from docclass import invocation, observability
from docclass.config import Settings
from docclass.errors import (
    EmbeddingMisconfigured,
    EmbeddingThrottled,
    EmbeddingUnavailable,
    MessageDeferred,
)
from docclass.events import S3Change, process_event
from docclass.invocation import InvocationGuard, TimeBudget, classify_budget, gallery_budget
from docclass_local.template import read_local_template


def inbox_batch(n: int) -> dict[str, Any]:
    """An SQS event of n inbox messages (ids m-0 .. m-(n-1), keys inbox/d0.png ..)."""
    template = load_event("sqs-inbox-put.json")["Records"][0]
    records = []
    for i in range(n):
        body = json.loads(template["body"])
        body["Records"][0]["s3"]["object"]["key"] = f"inbox/d{i}.png"
        records.append(dict(template, messageId=f"m-{i}", body=json.dumps(body)))
    return {"Records": records}


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


class SlowHandler:
    """Handles a change by letting `ms` of the invocation's time pass; raises `errors[key]` if given."""

    def __init__(self, context: FakeLambdaContext, ms: int, errors: dict[str, Exception] | None = None):
        self.context = context
        self.ms = ms
        self.errors = errors or {}
        self.started: list[tuple[str, int]] = []

    def __call__(self, change: S3Change) -> str:
        self.started.append((change.key, self.context.get_remaining_time_in_millis()))
        self.context.spend(self.ms)
        if change.key in self.errors:
            raise self.errors[change.key]
        return change.key


# --- the deadline ----------------------------------------------------------------------------------


def test_messages_that_cannot_finish_in_time_are_reported_failed_without_being_started():
    # given: 50 s left, each message takes 10 s, may take 12 s at worst, and 3 s are kept to return
    context = FakeLambdaContext(remaining_ms=50_000)
    handle = SlowHandler(context, 10_000)
    guard = InvocationGuard(context, TimeBudget(message_ms=12_000, reserve_ms=3_000))
    # when
    outcome = process_event(inbox_batch(6), context, handle, guard)
    # then: a message starts only with 15 s left (at 50, 40, 30, 20 s); the others go back unstarted
    assert [key for key, _ in handle.started] == [f"inbox/d{i}.png" for i in range(4)]
    assert all(remaining >= 15_000 for _, remaining in handle.started)
    assert failed_ids(outcome.response) == ["m-4", "m-5"]
    assert outcome.results == [f"inbox/d{i}.png" for i in range(4)]  # done = exactly the ones not reported
    # and the invocation returns before its deadline, with its reserve intact
    assert context.get_remaining_time_in_millis() >= 3_000


def test_without_a_budget_every_message_is_started():
    context = FakeLambdaContext(remaining_ms=1_000)
    handle = SlowHandler(context, 10_000)

    outcome = process_event(inbox_batch(3), context, handle)

    assert len(handle.started) == 3
    assert failed_ids(outcome.response) == []


def test_a_context_without_a_clock_never_defers():
    handle = SlowHandler(FakeLambdaContext(), 0)
    guard = InvocationGuard(object(), TimeBudget(message_ms=10**9, reserve_ms=10**9))

    outcome = process_event(inbox_batch(2), None, handle, guard)

    assert failed_ids(outcome.response) == []


def test_a_plain_s3_event_raises_message_deferred_when_time_is_short():
    context = FakeLambdaContext(remaining_ms=1_000)
    guard = InvocationGuard(context, TimeBudget(message_ms=5_000))

    with pytest.raises(MessageDeferred, match="1000 ms left"):
        process_event(load_event("s3-inbox-put.json"), context, SlowHandler(context, 0), guard)


# --- the breaker -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [EmbeddingThrottled("ThrottlingException: Too many requests"), EmbeddingMisconfigured("bad model id")],
    ids=["throttled", "misconfigured"],
)
def test_after_the_model_throttles_or_is_misconfigured_the_rest_of_the_batch_is_not_started(error):
    # given: the second document meets the error
    context = FakeLambdaContext()
    handle = SlowHandler(context, 100, errors={"inbox/d1.png": error})
    # when
    outcome = process_event(inbox_batch(5), context, handle, InvocationGuard(context))
    # then: it and every later message go back; the handler (and so the model) is not called again
    assert [key for key, _ in handle.started] == ["inbox/d0.png", "inbox/d1.png"]
    assert failed_ids(outcome.response) == ["m-1", "m-2", "m-3", "m-4"]
    assert outcome.results == ["inbox/d0.png"]


def test_other_unavailability_fails_only_its_own_message():
    context = FakeLambdaContext()
    handle = SlowHandler(context, 100, errors={"inbox/d1.png": EmbeddingUnavailable("ModelTimeoutException")})

    outcome = process_event(inbox_batch(4), context, handle, InvocationGuard(context))

    assert len(handle.started) == 4
    assert failed_ids(outcome.response) == ["m-1"]


def test_the_breaker_trips_from_another_thread_and_stays_open():
    guard = InvocationGuard(FakeLambdaContext())
    guard.admit_embed()

    guard.observe(EmbeddingThrottled("ServiceQuotaExceededException"))

    for admit in (guard.admit_embed, guard.admit_message):
        with pytest.raises(MessageDeferred, match="EmbeddingThrottled"):
            admit()


def test_a_misconfiguration_is_logged_once_per_container_and_counted_every_time(monkeypatch):
    # given: a fresh container, and a spy on the log and the metrics
    monkeypatch.setattr(observability, "_LOGGED_ONCE", set())
    logged, counted = [], []
    monkeypatch.setattr(observability.logger, "error", lambda msg, **kw: logged.append(kw["extra"]))
    monkeypatch.setattr(
        invocation.metrics, "add_metric", lambda name, unit, value: counted.append((name, value))
    )
    # when: three warm invocations meet the same misconfiguration (one of them twice: a worker
    # thread and the message's own thread see the same exception)
    for _ in range(3):
        error = EmbeddingMisconfigured(
            "Bedrock ValidationException (The provided model identifier is invalid.)", "fix the id"
        )
        guard = InvocationGuard(FakeLambdaContext())
        guard.observe(error)
        guard.observe(error)
        guard.flush()
    # then
    assert len(logged) == 1
    assert logged[0]["fix"] == "fix the id"
    assert counted == [("EmbeddingMisconfigured", 1)] * 3


# --- the budgets -----------------------------------------------------------------------------------


@pytest.mark.parametrize("embedder", ["bedrock", "local"])
def test_each_functions_worst_case_fits_its_timeout_in_template_with_a_margin(embedder):
    # given: the functions' Timeout as deployed
    functions = read_local_template(bucket="b").functions
    settings = Settings(bucket="b", embedder=embedder)
    classify, gallery = classify_budget(settings), gallery_budget(settings)
    # then: a message can start at the beginning of an invocation, with a quarter of Timeout to
    # spare, so an invocation that began late or slowly still gets work done
    assert classify.message_ms + classify.reserve_ms <= 0.75 * functions["ClassifyFunction"].timeout * 1000
    assert gallery.embed_ms + gallery.reserve_ms <= 0.75 * functions["GalleryFunction"].timeout * 1000
    # and the gallery keeps time for its commit
    assert gallery.reserve_ms >= 60_000


def test_with_bedrock_a_classify_message_budgets_the_clients_worst_case():
    from docclass import bedrock

    budget = classify_budget(Settings(bucket="b", embedder="bedrock"))

    assert budget.embed_ms == bedrock.WORST_CASE_EMBED_SECONDS * 1000
    assert budget.message_ms > budget.embed_ms


def test_one_s3_call_is_bounded_well_inside_classify_timeout(aws_credentials, monkeypatch, tmp_path):
    # given the S3 client the functions really use (no config files that could change it)
    from docclass import aws
    from docclass.store import ObjectStore

    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    config = ObjectStore("any-bucket").client.meta.config
    # then standard retries, and a worst case computed from that very config under the 60 s Timeout
    assert config.retries["mode"] == "standard"
    worst = aws.worst_case_seconds(
        config.retries["total_max_attempts"], config.connect_timeout, config.read_timeout
    )
    assert worst == 3 * (3 + 10) + 1 + 2
    assert worst < 60
