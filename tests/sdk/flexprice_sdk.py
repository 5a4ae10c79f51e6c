"""Drives a running exportd with the official Flexprice Python SDK (PyPI `flexprice`).

Usage: python flexprice_sdk.py BASE_URL API_KEY S3_ENDPOINT ACCESS_KEY SECRET_KEY BUCKET REGION
Drives every scheduled-task, task (run) and event method the SDK has, as
tests/sdk/js/flexprice_sdk.mjs does with the JavaScript SDK. Every call goes through the SDK and
every response is parsed by the SDK's own models; any mismatch raises. Connections are not part
of the SDK, so the one this script needs (for the given S3 server) is made over plain HTTP.
Prints "ok" and exits 0 when everything held.
"""

import csv
import gzip
import io
import json
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone

from flexprice import Flexprice, models
from flexprice.models import errors

BASE, KEY, S3_ENDPOINT, ACCESS_KEY, SECRET_KEY, BUCKET, REGION = sys.argv[1:8]


def raw(method, path, body=None):
    req = urllib.request.Request(
        BASE + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"x-api-key": KEY, "content-type": "application/json"},
    )
    with urllib.request.urlopen(req) as resp:
        return json.load(resp)


def expect_error(code, call):
    """A typed error: the SDK's ErrorResponse, carrying exportd's code and message."""
    try:
        call()
    except errors.ErrorResponse as e:
        assert e.data.code == code, (e.data.code, e.data.message)
        assert isinstance(e.data.message, str) and e.data.message
        assert str(e) == e.data.message, (str(e), e.data.message)
        return e.data
    raise AssertionError(f"expected an ErrorResponse with code {code}")


def expect_other_error(status, call):
    """A status the SDK's method has no model for: its generic error, with exportd's body."""
    try:
        call()
    except errors.FlexpriceDefaultError as e:
        assert e.raw_response.status_code == status, str(e)
        body = json.loads(e.body)
        assert e.body in str(e), str(e)
        return body
    raise AssertionError(f"expected an error with status {status}")


def wait_run(fp, run_id):
    deadline = time.time() + 60
    while True:
        run = fp.tasks.get_task(id=run_id)
        if run.task_status in ("COMPLETED", "FAILED"):
            return run
        assert time.time() < deadline, f"run {run_id} did not finish"
        time.sleep(0.1)


connection_id = raw(
    "POST",
    "/v1/connections",
    {
        "name": "sdk",
        "provider_type": "s3",
        "encrypted_secret_data": {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY},
    },
)["id"]

with Flexprice(server_url=BASE + "/v1", api_key_auth=KEY) as fp:
    st = fp.scheduled_tasks

    created = st.create_scheduled_task(
        connection_id=connection_id,
        entity_type="events",
        interval="hourly",
        enabled=True,
        job_config=models.S3JobConfig(
            bucket=BUCKET, region=REGION, key_prefix="sdk/", compression="gzip",
            endpoint_url=S3_ENDPOINT, use_path_style=True,
        ),
    )
    assert isinstance(created, models.ScheduledTaskResponse), type(created)
    assert created.id.startswith("schtask_"), created.id
    assert created.connection_id == connection_id
    assert created.entity_type == "events" and created.interval == "hourly" and created.enabled is True
    assert created.status == "published"
    assert isinstance(created.created_at, datetime) and created.created_at.tzinfo is not None
    assert isinstance(created.job_config, models.S3JobConfig)
    assert created.job_config.compression == "gzip" and created.job_config.encryption == "AES256"
    assert created.job_config.key_prefix == "sdk"
    assert created.job_config.export_metadata_fields == [] and created.job_config.provider == "s3"

    # The same output again: a 409 naming the first task.
    conflict = expect_other_error(
        409,
        lambda: st.create_scheduled_task(
            connection_id=connection_id, entity_type="events", interval="daily",
            job_config=models.S3JobConfig(
                bucket=BUCKET, region=REGION, key_prefix="sdk", compression="gzip",
                endpoint_url=S3_ENDPOINT, use_path_style=True,
            ),
        ),
    )
    assert conflict["code"] == "already_exists" and conflict["details"]["scheduled_task_id"] == created.id
    # Unset optional fields come back as null, which the SDK reads as unset.
    plain = st.create_scheduled_task(
        connection_id=connection_id, entity_type="invoice", interval="daily",
        job_config=models.S3JobConfig(bucket=BUCKET, region=REGION),
    )
    assert plain.enabled is False and plain.job_config.key_prefix is None
    assert plain.job_config.endpoint_url is None

    accepted = fp.events.ingest_event(
        event_name="api_call", external_customer_id="cus_sdk", event_id="sdk-evt-1", properties={"region": "eu"}
    )
    assert accepted["event_id"] == "sdk-evt-1", accepted
    bulk = fp.events.ingest_events_bulk(events=[{"event_name": "api_call", "external_customer_id": "cus_sdk", "event_id": "sdk-evt-2"}])
    assert bulk["message"] == "Events accepted for processing", bulk
    got = fp.events.get_event(id="sdk-evt-1", external_customer_id="cus_sdk")
    assert isinstance(got, models.GetEventByIDResponse), type(got)
    assert got.event.id == "sdk-evt-1" and got.event.event_name == "api_call"
    assert got.event.properties == {"region": "eu"} and isinstance(got.event.ingested_at, datetime)
    assert got.status is None
    expect_error("not_found", lambda: fp.events.get_event(id="sdk-evt-1", external_customer_id="cus_other"))

    # The event queries exportd does not serve say so.
    for call, path in [
        (lambda: fp.events.get_usage_analytics(external_customer_id="cus_sdk"), "/v1/events/analytics"),
        (lambda: fp.events.list_raw_events(external_customer_id="cus_sdk"), "/v1/events/query"),
        (lambda: fp.events.get_usage_statistics(aggregation_type="COUNT", event_name="api_call"), "/v1/events/usage"),
        (lambda: fp.events.get_usage_by_meter(meter_id="meter_1"), "/v1/events/usage/meter"),
    ]:
        err = expect_error("not_supported", call)
        assert err.message.startswith(f"POST {path} is not supported by exportd"), err.message

    got = st.get_scheduled_task(id=created.id)
    assert got == created, (got, created)

    listed = st.list_scheduled_tasks(limit=10, offset=0, connection_id=connection_id, enabled=True,
                                     entity_type="events", interval="hourly")
    assert isinstance(listed, models.ListScheduledTasksResponse)
    assert listed.pagination.total == 1 and listed.pagination.limit == 10
    assert [t.id for t in listed.items] == [created.id]
    assert st.list_scheduled_tasks(connection_id=connection_id).pagination.total == 2

    paused = st.update_scheduled_task(id=created.id, enabled=False)
    assert isinstance(paused, models.ScheduledTaskResponse) and paused.enabled is False

    run = st.trigger_scheduled_task_run(id=created.id)
    assert isinstance(run, models.TriggerForceRunResponse)
    assert run.workflow_id.startswith("task_") and run.mode == "force run"
    assert run.message == "Force run triggered successfully"
    assert isinstance(run.start_time, datetime) and run.end_time - run.start_time == timedelta(hours=1)

    end = datetime(2025, 10, 16, 11, 0, tzinfo=timezone.utc)
    custom = st.trigger_scheduled_task_run(id=created.id, start_time=end - timedelta(hours=1), end_time=end)
    assert custom.mode == "custom" and custom.end_time == end, custom

    task = fp.tasks.get_task(id=run.workflow_id)
    assert isinstance(task, models.TaskResponse)
    assert task.id == run.workflow_id and task.task_type == "EXPORT"
    assert task.scheduled_task_id == created.id and task.file_type == "CSV"
    assert task.workflow_id == run.workflow_id
    assert task.metadata["start_time"] == run.start_time.isoformat().replace("+00:00", "Z")

    # A window around now: the two events land in it; the run exports them to S3.
    now = datetime.now(timezone.utc)
    recent = st.trigger_scheduled_task_run(id=created.id, start_time=now - timedelta(hours=1), end_time=now)
    deadline = time.time() + 60
    while True:
        done = fp.tasks.get_task(id=recent.workflow_id)
        if done.task_status in ("COMPLETED", "FAILED") or time.time() > deadline:
            break
        time.sleep(0.1)
    assert done.task_status == "COMPLETED", (done.task_status, done.error_summary)
    assert done.total_records == 2 and done.successful_records == 2, done
    assert done.file_url.startswith(f"s3://{BUCKET}/sdk/events/events-") and done.file_url.endswith(".csv.gz")
    assert done.file_name.endswith(".csv.gz") and done.file_url.endswith(done.file_name), done.file_name
    assert isinstance(done.completed_at, datetime)
    link = fp.tasks.download_task_export(id=recent.workflow_id)
    with urllib.request.urlopen(link["download_url"]) as resp:
        rows = list(csv.reader(io.StringIO(gzip.decompress(resp.read()).decode())))
    assert [r[0] for r in rows[1:]] == ["sdk-evt-1", "sdk-evt-2"], rows
    assert rows[1][17] == '{"region":"eu"}', rows[1]

    tasks = fp.tasks.list_tasks(scheduled_task_id=created.id, limit=5)
    assert isinstance(tasks, models.ListTasksResponse)
    assert tasks.pagination.total == 3
    assert {t.id for t in tasks.items} == {run.workflow_id, custom.workflow_id, recent.workflow_id}
    # The SDK's upper-case entity types and its other filters.
    ended = [wait_run(fp, r.workflow_id) for r in (run, custom, recent)]
    completed = fp.tasks.list_tasks(entity_type="EVENTS", task_type="EXPORT", task_status="COMPLETED",
                                    status="published", order="desc", sort="created_at")
    assert {t.id for t in completed.items} == {r.id for r in ended if r.task_status == "COMPLETED"}
    assert recent.workflow_id in {t.id for t in completed.items}
    assert fp.tasks.list_tasks(entity_type="CUSTOMERS").pagination.total == 0

    # The same window again replaces the object: the earlier run is superseded, and its
    # download says so rather than serving the new bytes.
    again = st.trigger_scheduled_task_run(id=created.id, start_time=now - timedelta(hours=1), end_time=now)
    assert wait_run(fp, again.workflow_id).task_status == "COMPLETED"
    err = expect_error("superseded", lambda: fp.tasks.download_task_export(id=recent.workflow_id))
    assert again.workflow_id in err.message, err.message

    # The task routes exportd does not serve.
    result = expect_error("not_supported", lambda: fp.tasks.get_task_result(workflow_id=recent.workflow_id))
    assert "GET /v1/tasks/{workflow_id}" in result.message, result.message
    expect_error(
        "not_supported",
        lambda: fp.tasks.create_task(entity_type="EVENTS", file_provider="s3", file_type="CSV", task_type="IMPORT", upload_id="u"),
    )
    expect_error("not_supported", lambda: fp.tasks.update_task_status(id=recent.workflow_id, task_status="FAILED"))

    err = expect_error("not_found", lambda: st.get_scheduled_task(id="schtask_missing"))
    assert err.http_status_code == 404
    err = expect_error(
        "validation_error",
        lambda: st.create_scheduled_task(
            connection_id=connection_id,
            entity_type="events",
            interval="weekly",
            job_config=models.S3JobConfig(bucket="exports", region="us-east-1"),
        ),
    )
    assert err.message == "Interval must be one of: 15MIN, 30MIN, hourly, daily", err.message
    expect_error(
        "validation_error",
        lambda: st.trigger_scheduled_task_run(id=created.id, start_time=end),
    )
    expect_error("not_found", lambda: fp.tasks.get_task(id="task_missing"))
    expect_error("not_found", lambda: fp.tasks.download_task_export(id="task_missing"))

    # The billing system jobs (SPEC 7.1): the SDK sends an empty request object.
    billed = st.schedule_update_billing_period(request={})
    assert isinstance(billed, models.ScheduleUpdateBillingPeriodResponse), type(billed)
    again = st.schedule_update_billing_period(request=models.ScheduleUpdateBillingPeriodRequest())
    assert isinstance(again, models.ScheduleUpdateBillingPeriodResponse), type(again)
    drafts = st.schedule_draft_finalization()
    assert isinstance(drafts, models.ScheduleDraftFinalizationResponse), type(drafts)
    jobs = raw("GET", "/v1/tasks/scheduled/system")["items"]
    assert sorted(j["name"] for j in jobs) == ["draft_finalization", "update_billing_period"], jobs
    assert all(j["enabled"] is True for j in jobs), jobs

    assert st.delete_scheduled_task(id=created.id) is None
    assert st.get_scheduled_task(id=created.id).status == "deleted"
    expect_error("invalid_operation", lambda: st.update_scheduled_task(id=created.id, enabled=True))
    expect_error("invalid_operation", lambda: st.trigger_scheduled_task_run(id=created.id))

print("ok")
