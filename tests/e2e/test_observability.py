"""Every metric the alert rules and the Grafana dashboard read is exposed by the
running services (no dead panel, no rule that can never fire); the freshness
metrics carry real observations; ``LOG_FORMAT=json`` holds for Faust's logs."""

from __future__ import annotations

import json

import httpx
from prometheus_client.parser import text_string_to_metric_families

from devstack.ports import free_port
from tests.builders import scheduled, token_issued
from tests.promql import names_used
from tests.system import System

LATER = {"start_time": "2099-05-23T15:00:00.000Z", "end_time": "2099-05-23T16:00:00.000Z"}


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    try:
        text = httpx.get(url, timeout=5).text
    except httpx.TransportError:
        return {}
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def names(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> set[str]:
    return {name for name, _ in samples}


async def test_every_metric_the_rules_and_the_dashboard_read_is_exposed(system: System) -> None:
    port = free_port()
    projector = system.start(
        "projector",
        PROJECTOR_METRICS_PORT=str(port),
        PROJECTOR_LAG_INTERVAL_S="1",
        PROJECTOR_STALL_AFTER_S="2",
        PROJECTOR_HEARTBEAT_S="1",
        LOG_FORMAT="json",
    )
    system.start_api()
    await system.publish([token_issued(organization_id=5), scheduled(meeting_id=1, **LATER)])
    await system.publish_raw(system.topics.meetings, b"{not json", key=b"1")
    await system.wait_caught_up()
    for _ in range(3):  # a miss, then hits of the answer cache
        system.upcoming(5, "s3cret-token")
    system.get("/api/v2/organizations/5/upcoming_meetings")  # a 401

    projector_url = f"http://127.0.0.1:{port}/metrics"
    api_url = f"http://127.0.0.1:{system.api_port}/metrics"

    for name in ("projector_consumer_lag_seconds", "readmodel_listed_meetings"):
        system.wait_for(
            lambda name=name: name in names(scrape(projector_url)),  # type: ignore[misc]
            f"{name} to be measured: {sorted(names(scrape(projector_url)))}",
        )
    system.wait_for(
        lambda: scrape(projector_url).get(("readmodel_listed_meetings", frozenset()), 0) >= 1,
        "the meeting to be counted",
    )
    # One more event, applied while the API tracks: an apply-to-visible observation.
    await system.publish([scheduled(meeting_id=2, **LATER)])
    await system.wait_caught_up()

    def visible() -> bool:
        return scrape(api_url).get(("api_apply_to_visible_seconds_count", frozenset()), 0) >= 1

    system.wait_for(visible, "an applied batch to be announced to the API")

    exposed = names(scrape(projector_url)) | names(scrape(api_url))
    missing = names_used() - exposed
    assert not missing, f"read by deploy/ but not exposed: {sorted(missing)}"

    projector_samples = scrape(projector_url)
    age_count = sum(
        value
        for (name, labels), value in projector_samples.items()
        if name == "projector_event_age_seconds_count"
    )
    assert age_count >= 3  # two events and the dead-lettered record, each observed once
    api_samples = scrape(api_url)
    assert api_samples[("api_answer_cache_hits_total", frozenset())] >= 2
    assert api_samples[("api_answer_cache_tracking", frozenset())] == 1

    # LOG_FORMAT=json: every line of the worker's log, Faust's own included, is an object.
    lines = [
        line
        for line in (system.log_dir / f"{projector.name}.log").read_text().splitlines()
        if line.strip()
    ]
    not_json = [line for line in lines if not line.startswith("{")]
    assert not not_json, not_json
    records = [json.loads(line) for line in lines]
    assert {"level", "logger", "message"} <= set(records[0])
    assert any(r["logger"].startswith(("faust", "mode", "aiokafka")) for r in records)
    (rejected,) = [r for r in records if r["message"].startswith("dead-lettering")]
    assert rejected["topic"] == system.topics.meetings
    assert isinstance(rejected["partition"], int) and isinstance(rejected["offset"], int)


def test_json_logs_of_an_api_with_several_worker_processes(system: System) -> None:
    api = system.start("api", API_WORKERS="2", LOG_FORMAT="json")
    system.wait_for(lambda: system.get("/healthz").status_code == 200, "the API to answer")
    log = system.log_dir / f"{api.name}.log"
    system.wait_for(lambda: log.read_text().count("answer cache on") == 2, "both workers to track")
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    started = [r for r in records if r["message"].startswith("Started server process")]
    assert len(started) == 2  # uvicorn's, in each worker
    tracking = [r for r in records if r["logger"] == "api.tracking"]
    assert len(tracking) >= 2  # the application's own, in each worker
    assert not any("color_message" in r for r in records)
