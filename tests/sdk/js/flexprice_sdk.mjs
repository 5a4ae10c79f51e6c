// Drives a running exportd with the official Flexprice JavaScript SDK (npm @flexprice/sdk,
// pinned with the zod npm resolves in package-lock.json), through every scheduled-task, task
// (run) and event method the SDK has. Every response goes through the SDK's own zod models and
// every error through its error classes; any mismatch throws.
//
// Usage: node flexprice_sdk.mjs BASE_URL API_KEY S3_ENDPOINT ACCESS_KEY SECRET_KEY BUCKET REGION
// Connections are not part of the SDK, so the one this script needs is made over plain HTTP.
// Prints "ok" and exits 0 when everything held.

import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";

import { Flexprice } from "@flexprice/sdk";
import {
  ErrorsErrorsErrorResponse,
  FlexPriceError,
} from "@flexprice/sdk/sdk/models";

const [BASE, KEY, S3_ENDPOINT, ACCESS_KEY, SECRET_KEY, BUCKET, REGION] =
  process.argv.slice(2);

async function raw(method, path, body) {
  const res = await fetch(BASE + path, {
    method,
    headers: { "x-api-key": KEY, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${await res.clone().text()}`);
  return res.json();
}

// A typed error: the SDK's ErrorsErrorsErrorResponse, whose message is exportd's.
async function typedError(status, call) {
  try {
    await call();
  } catch (e) {
    assert.ok(e instanceof ErrorsErrorsErrorResponse, `expected a typed error, got ${e}`);
    assert.equal(e.statusCode, status, e.message);
    assert.equal(e.success, false);
    assert.equal(e.message, e.error.message);
    assert.ok(e.error.internalError, "internal_error names the code");
    return e;
  }
  assert.fail(`expected a typed ${status} error`);
}

// A status the SDK's method has no model for: its generic error, which still shows exportd's
// JSON body (and so its message).
async function otherError(status, call) {
  try {
    await call();
  } catch (e) {
    assert.ok(e instanceof FlexPriceError, `expected an SDK error, got ${e}`);
    assert.equal(e.statusCode, status, e.message);
    return JSON.parse(e.body);
  }
  assert.fail(`expected a ${status} error`);
}

async function waitRun(fp, id) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const run = await fp.tasks.getTask(id);
    if (run.taskStatus === "COMPLETED" || run.taskStatus === "FAILED") return run;
    assert.ok(Date.now() < deadline, `run ${id} did not finish`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const connectionId = (
  await raw("POST", "/v1/connections", {
    name: "js sdk",
    provider_type: "s3",
    encrypted_secret_data: { aws_access_key_id: ACCESS_KEY, aws_secret_access_key: SECRET_KEY },
  })
).id;

const fp = new Flexprice({ serverURL: BASE + "/v1", apiKeyAuth: KEY });
const st = fp.scheduledTasks;

// ---- scheduled tasks: create, conflicts, get, list, pause
const jobConfig = {
  bucket: BUCKET,
  region: REGION,
  keyPrefix: "js/",
  compression: "gzip",
  endpointUrl: S3_ENDPOINT,
  usePathStyle: true,
};
const created = await st.createScheduledTask({
  connectionId,
  entityType: "events",
  interval: "hourly",
  enabled: true,
  jobConfig,
});
assert.match(created.id, /^schtask_/);
assert.equal(created.connectionId, connectionId);
assert.equal(created.entityType, "events");
assert.equal(created.interval, "hourly");
assert.equal(created.enabled, true);
assert.equal(created.status, "published");
assert.ok(!Number.isNaN(Date.parse(created.createdAt)));
assert.deepEqual(created.jobConfig, {
  bucket: BUCKET,
  region: REGION,
  keyPrefix: "js",
  compression: "gzip",
  encryption: "AES256",
  endpointUrl: S3_ENDPOINT,
  usePathStyle: true,
});

// The same output again: a 409 (a status the SDK has no model for) naming the first task.
const conflict = await otherError(409, () =>
  st.createScheduledTask({ connectionId, entityType: "events", interval: "daily", jobConfig }),
);
assert.equal(conflict.code, "already_exists");
assert.equal(conflict.details.scheduled_task_id, created.id);
assert.ok(conflict.error.message.includes(created.id), conflict.error.message);

// Unset optional fields come back as null, which the SDK reads as unset.
const plain = await st.createScheduledTask({
  connectionId,
  entityType: "invoice",
  interval: "daily",
  jobConfig: { bucket: BUCKET, region: REGION },
});
assert.equal(plain.enabled, false);
assert.equal(plain.jobConfig.keyPrefix, undefined);
assert.equal(plain.jobConfig.endpointUrl, undefined);

assert.deepEqual(await st.getScheduledTask(created.id), created);

const listed = await st.listScheduledTasks({
  limit: 10,
  offset: 0,
  connectionId,
  entityType: "events",
  interval: "hourly",
  enabled: true,
});
assert.deepEqual(listed.pagination, { total: 1, limit: 10, offset: 0 });
assert.deepEqual(listed.items.map((t) => t.id), [created.id]);
const both = await st.listScheduledTasks({ connectionId });
assert.equal(both.pagination.total, 2);

const paused = await st.updateScheduledTask(created.id, { enabled: false });
assert.equal(paused.enabled, false);

// ---- events: ingest one and a bulk, read one back
const accepted = await fp.events.ingestEvent({
  eventName: "api_call",
  externalCustomerId: "cus_js",
  eventId: "js-evt-1",
  properties: { region: "eu" },
});
assert.equal(accepted.event_id, "js-evt-1");
const bulk = await fp.events.ingestEventsBulk({
  events: [{ eventName: "api_call", externalCustomerId: "cus_js", eventId: "js-evt-2" }],
});
assert.equal(bulk.message, "Events accepted for processing");
const got = await fp.events.getEvent("js-evt-1");
assert.equal(got.event.id, "js-evt-1");
assert.equal(got.event.eventName, "api_call");
assert.equal(got.event.externalCustomerId, "cus_js");
assert.deepEqual(got.event.properties, { region: "eu" });
assert.equal(got.status, undefined);
await typedError(404, () => fp.events.getEvent("js-evt-missing"));

// The event queries exportd does not serve: typed errors that say so.
const notSupported = (e, path) => {
  assert.ok(e.message.startsWith(`POST ${path} is not supported by exportd`), e.message);
  assert.equal(e.error.internalError, "not_supported");
};
notSupported(
  await typedError(400, () => fp.events.getUsageAnalytics({ externalCustomerId: "cus_js" })),
  "/v1/events/analytics",
);
notSupported(
  await typedError(400, () => fp.events.listRawEvents({ externalCustomerId: "cus_js" })),
  "/v1/events/query",
);
notSupported(
  await typedError(400, () =>
    fp.events.getUsageStatistics({ aggregationType: "COUNT", eventName: "api_call" }),
  ),
  "/v1/events/usage",
);
notSupported(
  await typedError(400, () =>
    fp.events.getUsageByMeter({ meterId: "meter_1", externalCustomerId: "cus_js" }),
  ),
  "/v1/events/usage/meter",
);
const hf = await otherError(400, () => fp.events.getHuggingfaceInferenceData());
assert.equal(hf.code, "not_supported");

// ---- runs: force runs (automatic and custom), read, list, download
const run = await st.triggerScheduledTaskRun(created.id);
assert.match(run.workflowId, /^task_/);
assert.equal(run.mode, "force run");
assert.equal(run.message, "Force run triggered successfully");
assert.equal(Date.parse(run.endTime) - Date.parse(run.startTime), 3_600_000);

const end = "2025-10-16T11:00:00Z";
const custom = await st.triggerScheduledTaskRun(created.id, {
  startTime: "2025-10-16T10:00:00Z",
  endTime: end,
});
assert.equal(custom.mode, "custom");
assert.equal(custom.endTime, end);

const task = await fp.tasks.getTask(run.workflowId);
assert.equal(task.id, run.workflowId);
assert.equal(task.workflowId, run.workflowId);
assert.equal(task.taskType, "EXPORT");
assert.equal(task.scheduledTaskId, created.id);
assert.equal(task.fileType, "CSV");
assert.equal(task.metadata.start_time, run.startTime);

// A window around now: both events land in it; the run exports them to S3.
const now = new Date();
const window = {
  startTime: new Date(now.getTime() - 3_600_000).toISOString(),
  endTime: now.toISOString(),
};
const recent = await st.triggerScheduledTaskRun(created.id, window);
const done = await waitRun(fp, recent.workflowId);
assert.equal(done.taskStatus, "COMPLETED", done.errorSummary);
assert.equal(done.totalRecords, 2);
assert.equal(done.successfulRecords, 2);
assert.ok(done.fileUrl.startsWith(`s3://${BUCKET}/js/events/events-`), done.fileUrl);
assert.ok(done.fileName.endsWith(".csv.gz") && done.fileUrl.endsWith(done.fileName), done.fileName);
assert.ok(!Number.isNaN(Date.parse(done.completedAt)));
const link = await fp.tasks.downloadTaskExport(recent.workflowId);
const file = await fetch(link.download_url);
assert.equal(file.status, 200);
const rows = gunzipSync(Buffer.from(await file.arrayBuffer()))
  .toString()
  .trim()
  .split("\n")
  .slice(1)
  .map((line) => line.split(",")[0]);
assert.deepEqual(rows, ["js-evt-1", "js-evt-2"]);

const ofTask = await fp.tasks.listTasks({ scheduledTaskId: created.id, limit: 5 });
assert.equal(ofTask.pagination.total, 3);
assert.deepEqual(
  new Set(ofTask.items.map((t) => t.id)),
  new Set([run.workflowId, custom.workflowId, recent.workflowId]),
);
// The SDK's upper-case entity types and its other filters.
const ended = await Promise.all([run, custom, recent].map((r) => waitRun(fp, r.workflowId)));
const completed = await fp.tasks.listTasks({
  entityType: "EVENTS",
  taskType: "EXPORT",
  taskStatus: "COMPLETED",
  status: "published",
  order: "desc",
  sort: "created_at",
});
assert.deepEqual(
  new Set(completed.items.map((t) => t.id)),
  new Set(ended.filter((r) => r.taskStatus === "COMPLETED").map((r) => r.id)),
);
assert.ok(completed.items.some((t) => t.id === recent.workflowId));
const imports = await fp.tasks.listTasks({ entityType: "CUSTOMERS" });
assert.equal(imports.pagination.total, 0);

// The same window again replaces the object: the earlier run is superseded, and its download
// says so with a typed error rather than serving the new bytes.
const again = await st.triggerScheduledTaskRun(created.id, window);
assert.equal((await waitRun(fp, again.workflowId)).taskStatus, "COMPLETED");
const superseded = await typedError(404, () => fp.tasks.downloadTaskExport(recent.workflowId));
assert.ok(superseded.message.includes(again.workflowId), superseded.message);
assert.equal(superseded.error.internalError, "superseded");

// The task routes exportd does not serve.
const result = await otherError(400, () => fp.tasks.getTaskResult(recent.workflowId));
assert.equal(result.code, "not_supported");
assert.ok(result.message.includes("GET /v1/tasks/{workflow_id}"), result.message);
await typedError(400, () =>
  fp.tasks.createTask({ entityType: "EVENTS", fileType: "CSV", fileUrl: "s3://b/k", taskType: "IMPORT" }),
);
await typedError(400, () => fp.tasks.updateTaskStatus(recent.workflowId, { taskStatus: "FAILED" }));

// ---- typed errors of the scheduled-task and run methods
const missing = await typedError(404, () => st.getScheduledTask("schtask_missing"));
assert.equal(missing.message, "Scheduled task with ID schtask_missing was not found");
const weekly = await typedError(400, () =>
  st.createScheduledTask({
    connectionId,
    entityType: "events",
    interval: "weekly",
    jobConfig: { bucket: "exports", region: "us-east-1" },
  }),
);
assert.equal(weekly.message, "Interval must be one of: 15MIN, 30MIN, hourly, daily");
assert.equal(weekly.error.internalError, "validation_error: interval");
const half = await typedError(400, () => st.triggerScheduledTaskRun(created.id, { startTime: end }));
assert.match(half.message, /both start_time and end_time/);
await typedError(404, () => fp.tasks.getTask("task_missing"));
await typedError(404, () => fp.tasks.downloadTaskExport("task_missing"));

// ---- billing job, delete
const billed = await st.scheduleUpdateBillingPeriod({});
assert.deepEqual(billed, {});

assert.equal(await st.deleteScheduledTask(created.id), undefined);
assert.equal((await st.getScheduledTask(created.id)).status, "deleted");
const deleted = await typedError(400, () => st.updateScheduledTask(created.id, { enabled: true }));
assert.match(deleted.message, /has been deleted/);
await typedError(400, () => st.triggerScheduledTaskRun(created.id));

console.log("ok");
