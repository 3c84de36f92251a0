// Counts one fault phase of tests/faults/run.sh: what the load generator was told about each
// request against what each sink holds.
//
//   node tally.mjs OUTCOMES PG_ROWS WEBHOOK_RECORDS
// OUTCOMES: bp_loadgen --record-ids lines "<status> <request_id|-> <records> <key> <error|->"
//   (status 0: no answer); PG_ROWS: "<bp_record_id>\t<k>\t<i>" per row of the postgres sink; WEBHOOK_RECORDS:
//   "<k>:<i> <times>" from the receiver. Prints one JSON object.
//
// Per sink: lost = records of a 202 that are not there; duplicates = extra copies; from_503 and
// from_no_answer = records of requests answered 503 or not answered at all (connection lost) that
// were delivered anyway (the message reached the stream; a client would retry: at-least-once);
// unknown = records no request of this phase sent. bad_ids: postgres rows of a 202 whose
// bp_record_id is not "<request_id>:<index>". missing_everywhere: records of a 202 in neither
// sink, i.e. a 202 without its message in the stream. refusals: answers other than 202 by status
// and error code; unclear_refusals: those without an error code or a request_id.
import { readFileSync } from 'node:fs';

const lines = (file) => readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');

const [outcomesFile, pgFile, webhookFile] = process.argv.slice(2);
const requests = new Map(); // key -> {status, requestId, records}
const statuses = {};
const refusals = {}; // "<status> <error code>" of the answers other than 202
let unclear = 0; // answers other than 202 without an error code or a request_id
for (const line of lines(outcomesFile)) {
  const [status, requestId, records, key, error] = line.split(' ');
  requests.set(key, { status: Number(status), requestId, records: Number(records) });
  statuses[status] = (statuses[status] || 0) + 1;
  if (status === '0' || status === '202') continue;
  refusals[`${status} ${error}`] = (refusals[`${status} ${error}`] || 0) + 1;
  if (error === '-' || requestId === '-') unclear += 1;
}

// "<k>:<i>" -> times present, for one sink.
const pgCounts = new Map();
let badIds = 0;
for (const line of lines(pgFile)) {
  const [recordId, k, i] = line.split('\t');
  const id = `${k}:${i}`;
  pgCounts.set(id, (pgCounts.get(id) || 0) + 1);
  const req = requests.get(k);
  if (req?.status === 202 && recordId !== `${req.requestId}:${i}`) badIds += 1;
}
const webhookCounts = new Map();
for (const line of lines(webhookFile)) {
  const [id, n] = line.split(' ');
  webhookCounts.set(id, Number(n));
}

function sinkFigures(counts) {
  const f = { lost: 0, duplicates: 0, from_503: 0, from_no_answer: 0, unknown: 0, rows: 0 };
  for (const [id, n] of counts) {
    f.rows += n;
    f.duplicates += n - 1;
    const req = requests.get(id.slice(0, id.lastIndexOf(':')));
    if (!req) f.unknown += 1;
    else if (req.status === 503) f.from_503 += 1;
    else if (req.status === 0) f.from_no_answer += 1;
    else if (req.status !== 202) f.unknown += 1;
  }
  return f;
}
const sinks = { postgres: sinkFigures(pgCounts), webhook: sinkFigures(webhookCounts) };
sinks.postgres.bad_ids = badIds;

let recordsAccepted = 0;
let missingEverywhere = 0;
for (const [key, req] of requests) {
  if (req.status !== 202) continue;
  for (let i = 0; i < req.records; i += 1) {
    recordsAccepted += 1;
    const id = `${key}:${i}`;
    const inPg = pgCounts.has(id);
    const inHook = webhookCounts.has(id);
    if (!inPg) sinks.postgres.lost += 1;
    if (!inHook) sinks.webhook.lost += 1;
    if (!inPg && !inHook) missingEverywhere += 1;
  }
}

console.log(
  JSON.stringify({
    requests: requests.size,
    statuses,
    accepted: statuses['202'] || 0,
    refusals,
    unclear_refusals: unclear,
    records_accepted: recordsAccepted,
    missing_everywhere: missingEverywhere,
    sinks,
  }),
);
