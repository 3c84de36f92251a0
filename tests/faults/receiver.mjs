// The webhook destination of tests/faults/run.sh: checks each batch's Standard Webhooks signature
// and counts every record of the batches it answered 2xx, by the record's own key (bp_loadgen
// --record-ids sends records {"k":"<tag>.<connection>.<seq>","i":<index>,...}).
//
//   node receiver.mjs PORT SECRET
//   GET /control?mode=ok|500|hang   answer 200, answer 500, or never answer (the worker times out)
//   GET /stats                      {"mode","requests","by_status","hung","records","bad_signatures"}
//   GET /records?prefix=TAG.        "<k>:<i> <times received>" per record whose key starts with TAG.
// Any other path takes a webhook POST.
import http from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';

const [port, secret] = [Number(process.argv[2]), process.argv[3] || ''];
if (!port || !secret.startsWith('whsec_')) {
  console.error('usage: node receiver.mjs PORT whsec_SECRET');
  process.exit(2);
}
const key = Buffer.from(secret.slice('whsec_'.length), 'base64');

let mode = 'ok';
const counts = new Map(); // "<k>:<i>" -> times received in a 2xx-answered batch
const byStatus = {};
const hung = new Set(); // requests held open in hang mode
let requests = 0;
let badSignatures = 0;
let hungTotal = 0;

function signatureOk(headers, body) {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const sigs = (headers['webhook-signature'] || '').split(' ');
  if (!id || !ts) return false;
  const want = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest();
  return sigs.some((s) => {
    const [version, b64] = s.split(',');
    const got = Buffer.from(b64 || '', 'base64');
    return version === 'v1' && got.length === want.length && timingSafeEqual(got, want);
  });
}

function answer(res, status, body = '') {
  byStatus[status] = (byStatus[status] || 0) + 1;
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(body);
}

function control(url, res) {
  if (url.pathname === '/control') {
    const next = url.searchParams.get('mode');
    if (!['ok', '500', 'hang'].includes(next)) return answer(res, 400, 'mode is ok, 500 or hang\n');
    mode = next;
    if (mode !== 'hang') {
      // The worker gave up on these long ago; nothing they carried was acknowledged.
      for (const r of hung) r.socket?.destroy();
      hung.clear();
    }
    return answer(res, 200, `${mode}\n`);
  }
  if (url.pathname === '/stats') {
    const stats = { mode, requests, by_status: byStatus, hung: hungTotal, records: counts.size, bad_signatures: badSignatures };
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify(stats));
  }
  const prefix = url.searchParams.get('prefix') || '';
  const lines = [];
  for (const [k, n] of counts) if (k.startsWith(prefix)) lines.push(`${k} ${n}\n`);
  res.writeHead(200, { 'content-type': 'text/plain' });
  return res.end(lines.join(''));
}

function hook(req, res, body) {
  requests += 1;
  if (mode === '500') return answer(res, 500, 'failing on purpose\n');
  if (mode === 'hang') {
    hungTotal += 1;
    hung.add(res);
    res.on('close', () => hung.delete(res));
    return undefined;
  }
  if (!signatureOk(req.headers, body)) {
    badSignatures += 1;
    return answer(res, 401, 'bad signature\n');
  }
  let records;
  try {
    records = JSON.parse(body);
  } catch {
    return answer(res, 400, 'not JSON\n');
  }
  if (!Array.isArray(records)) return answer(res, 400, 'not an array\n');
  for (const r of records) {
    const k = `${r?.k}:${r?.i}`;
    counts.set(k, (counts.get(k) || 0) + 1);
  }
  return answer(res, 200, 'ok\n');
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://receiver');
  if (req.method === 'GET' && ['/control', '/stats', '/records'].includes(url.pathname)) return control(url, res);
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => hook(req, res, Buffer.concat(chunks).toString('utf8')));
  return undefined;
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => console.log(`webhook receiver on 127.0.0.1:${port}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
