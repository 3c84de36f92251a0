// Starts a real BatchPipe stack for one test file: a fresh database on the test Postgres, the
// control-plane (two bootstrapped workspaces) and the gateway, both on free loopback ports.
//
// Needs the environment that `bash deploy/batchpipe.sh test` exports:
//   BP_TEST_PG_URL  superuser URL of a running Postgres (postgresql://postgres@127.0.0.1:PORT/postgres)
//   BP_TEST_NATS_URL  URL of a running nats-server with JetStream
//   BP_BIN_DIR      directory of batchpipe-control-plane, batchpipe-gateway and
//                   batchpipe-delivery-worker (default: build/bin)
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));

export const repoDir = process.env.BP_REPO_DIR || path.resolve(here, '../../..');
export const binDir = process.env.BP_BIN_DIR || path.join(repoDir, 'build/bin');

const STOP_TIMEOUT_MS = 10_000;
const READY_TIMEOUT_MS = 20_000;

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set. Run the suite through \`bash deploy/batchpipe.sh test\`, or export ` +
        'BP_TEST_PG_URL, BP_TEST_NATS_URL (and BP_BIN_DIR) for a Postgres and a NATS you started.',
    );
  }
  return value;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export function randomName(prefix) {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function psql(url, sql) {
  await execFileAsync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql]);
}

/** Rows of a query as arrays of text fields (psql unaligned, tab-separated; NULL reads ''). */
export async function psqlRows(url, sql) {
  const { stdout } = await execFileAsync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-q', '-tA', '-F', '\t', '-c', sql], {
    maxBuffer: 64 << 20,
  });
  return stdout.split('\n').filter((line) => line !== '').map((line) => line.split('\t'));
}

function databaseUrl(serverUrl, dbName) {
  const url = new URL(serverUrl);
  url.pathname = `/${dbName}`;
  return url.toString();
}

class ExitedEarly extends Error {}

/** Polls GET url until it answers 200; throws ExitedEarly when the service died meanwhile. */
async function waitReady(url, service, label) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = '';
  while (Date.now() < deadline) {
    if (!service.running) {
      const { exitCode, signalCode } = service.proc;
      throw Object.assign(new ExitedEarly(`${label} exited early (code ${exitCode}, signal ${signalCode})`), { service });
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return;
      lastError = `status ${res.status}`;
    } catch (err) {
      lastError = err.message;
    }
    await sleep(100);
  }
  throw new Error(`${label} not ready at ${url} after ${READY_TIMEOUT_MS} ms (${lastError})`);
}

// Services must not outlive this process, however it ends (the test runner may SIGKILL it, e.g.
// when its own stdout closes): util-linux's setpriv makes the kernel send them SIGTERM when we
// die. setpriv execs the service, so pid, signals and exit status stay the service's own.
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find(existsSync);
const live = new Set();
process.on('exit', () => {
  for (const service of live) service.proc.kill('SIGTERM');
});

/** A child process whose stderr and stdout go to a log file. */
class Service {
  constructor(label, file, args, env, logDir) {
    this.label = label;
    this.logFile = path.join(logDir, `${label}.log`);
    const log = createWriteStream(this.logFile);
    const [command, argv] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'TERM', '--', file, ...args]] : [file, args];
    this.proc = spawn(command, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout.pipe(log, { end: false });
    this.proc.stderr.pipe(log, { end: false });
    live.add(this);
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        live.delete(this);
        resolve({ code, signal });
      });
      this.proc.on('error', (err) => {
        // Could not start (e.g. no such binary): 'exit' never comes.
        this.spawnError = err;
        live.delete(this);
        log.write(`cannot start ${file}: ${err.message}\n`);
        resolve({ code: null, signal: null, error: err.message });
      });
    });
  }

  get running() {
    return !this.spawnError && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** SIGKILL on purpose (a crash): the stack does not expect a clean exit from it any more. */
  async kill9() {
    this.killed = true;
    if (!this.running) return this.exited;
    this.proc.kill('SIGKILL');
    return this.exited;
  }

  /** SIGTERM, then the exit status (SIGKILL after the timeout, reported as such). */
  async stop() {
    if (!this.running) return this.exited;
    this.proc.kill('SIGTERM');
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => resolve(null), STOP_TIMEOUT_MS);
    });
    const status = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (status) return status;
    this.proc.kill('SIGKILL');
    await this.exited;
    return { code: null, signal: 'SIGTERM timeout', timedOut: true };
  }

  tail(lines = 60) {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

/**
 * Deletes every pipe of the stack's workspaces, so the control-plane removes their JetStream
 * consumers (and interest retention their messages): the NATS server outlives the stack.
 */
async function deletePipes(stack) {
  if (!stack.gatewayUrl) return;
  for (const { key } of Object.values(stack.workspaces)) {
    const headers = { authorization: `Bearer ${key}` };
    for (let page = 0; page < 50; page += 1) {
      const res = await fetch(`${stack.gatewayUrl}/v1/pipes?limit=200`, { headers, signal: AbortSignal.timeout(5000) });
      if (res.status !== 200) break;
      const { pipes } = await res.json();
      if (pipes.length === 0) break;
      for (const pipe of pipes) {
        await fetch(`${stack.gatewayUrl}/v1/pipes/${pipe.id}`, { method: 'DELETE', headers, signal: AbortSignal.timeout(5000) });
      }
    }
  }
}

/**
 * Starts a stack. Returns { gatewayUrl, natsUrl, controlPlaneGrpc, workspaces: {a, b}, startGateway, stop, logs }.
 * Each workspace is { id, key } (key = the bootstrap API key, "bp_v1_…").
 */
export async function startStack({ workspaces = ['a', 'b'], controlPlaneEnv = {} } = {}) {
  const pgUrl = requiredEnv('BP_TEST_PG_URL');
  const natsUrl = requiredEnv('BP_TEST_NATS_URL');
  const logDir = await mkdtemp(path.join(os.tmpdir(), 'bp-node-'));
  const dbName = randomName('bp_node');
  const services = [];
  const stack = { natsUrl, logDir, dbName, services, workspaces: {} };
  const sinkDatabases = [];

  stack.logs = (lines) => services.map((s) => `----- ${s.label} (${s.logFile}) -----\n${s.tail(lines)}`).join('\n');

  // Runs start(ports) with `count` free ports; when the service exits at once (another process
  // took a port meanwhile), forgets it and tries again with new ports, three times at most.
  const startOnFreePorts = async (count, start) => {
    for (let attempt = 1; ; attempt += 1) {
      const ports = [];
      for (let i = 0; i < count; i += 1) ports.push(await freePort());
      try {
        return await start(ports);
      } catch (err) {
        if (!(err instanceof ExitedEarly) || attempt >= 3) throw err;
        services.splice(services.indexOf(err.service), 1);
      }
    }
  };

  let dbCreated = false;
  stack.stop = async () => {
    const problems = [];
    await deletePipes(stack).catch(() => {});
    // Gateways first (they call the control-plane while draining), then the control-plane.
    for (const service of [...services].reverse()) {
      const status = await service.stop();
      // Helpers (e.g. nats-server) may exit non-zero on SIGTERM; they must still exit. A service
      // a test SIGKILLed on purpose is only waited for.
      if (service.killed) continue;
      const clean = service.helper ? !status.timedOut : status.code === 0;
      if (!clean) problems.push(`${service.label} did not exit 0 on SIGTERM: ${JSON.stringify(status)}`);
    }
    for (const name of sinkDatabases) {
      await psql(pgUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch((err) =>
        problems.push(`cannot drop ${name}: ${err.message}`),
      );
    }
    if (dbCreated) {
      await psql(pgUrl, `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch((err) =>
        problems.push(`cannot drop ${dbName}: ${err.message}`),
      );
    }
    return problems;
  };

  try {
    await psql(pgUrl, `CREATE DATABASE ${dbName}`);
    dbCreated = true;
    const masterKey = randomBytes(32).toString('hex');
    let cpEnv;
    await startOnFreePorts(2, async ([grpcPort, httpPort]) => {
      cpEnv = {
        BP_PG_URL: databaseUrl(pgUrl, dbName),
        BP_NATS_URL: natsUrl,
        BP_GRPC_LISTEN: `127.0.0.1:${grpcPort}`,
        BP_HTTP_LISTEN: `127.0.0.1:${httpPort}`,
        BP_MASTER_KEY: masterKey,
        ...controlPlaneEnv,
      };
      const controlPlane = new Service('control-plane', path.join(binDir, 'batchpipe-control-plane'), [], cpEnv, logDir);
      services.push(controlPlane);
      return waitReady(`http://127.0.0.1:${httpPort}/readyz`, controlPlane, 'control-plane');
    });
    stack.controlPlaneGrpc = cpEnv.BP_GRPC_LISTEN;
    stack.controlPlaneHttp = `http://${cpEnv.BP_HTTP_LISTEN}`;

    for (const label of workspaces) {
      const { stdout } = await execFileAsync(
        path.join(binDir, 'batchpipe-control-plane'),
        ['bootstrap', `--workspace-name=${randomName(`ws_${label}`)}`],
        { env: { ...process.env, ...cpEnv } },
      );
      const id = /^workspace_id=(\S+)$/m.exec(stdout)?.[1];
      const key = /^api_key=(bp_v1_\S+)$/m.exec(stdout)?.[1];
      if (!id || !key) throw new Error(`bootstrap printed no workspace_id/api_key:\n${stdout}`);
      stack.workspaces[label] = { id, key };
    }

    /**
     * Starts a helper process (not a BatchPipe service: its exit status is not checked) that the
     * stack stops with SIGTERM before what was started earlier.
     */
    stack.spawn = (label, file, args, env = {}) => {
      const service = new Service(label, file, args, env, logDir);
      service.helper = true;
      services.push(service);
      return service;
    };

    /** Starts one more gateway against this control-plane; env overrides the defaults. */
    stack.startGateway = async (label = 'gateway', env = {}) => {
      let url;
      let gateway;
      await startOnFreePorts(1, async ([port]) => {
        gateway = new Service(
          label,
          path.join(binDir, 'batchpipe-gateway'),
          [],
          {
            BP_HTTP_LISTEN: `127.0.0.1:${port}`,
            BP_CONTROL_PLANE_ADDR: stack.controlPlaneGrpc,
            BP_NATS_URL: natsUrl,
            BP_THREADS: '2',
            // Suites send many 401s on purpose from one address; the throttle (default 20 per
            // minute) has its own test (throttle.test.mjs), which sets it explicitly.
            BP_AUTH_FAILURE_LIMIT: '1000',
            ...env,
          },
          logDir,
        );
        services.push(gateway);
        url = `http://127.0.0.1:${port}`;
        return waitReady(`${url}/readyz`, gateway, label);
      });
      return { url, service: gateway };
    };

    /**
     * Starts a delivery worker against this stack (BP_LEASE_TTL_MS 2000, BP_REFRESH_MS 500, private
     * webhook targets allowed, file root stack.fileRoot shared by every worker of the stack) and
     * waits for its /readyz; env overrides the defaults. Returns { label, id, url, service,
     * stop(), kill9() }: stop() is SIGTERM and resolves to the exit status; kill9() is SIGKILL,
     * after which the stack expects no clean exit from it. Workers still running when the stack
     * stops get SIGTERM and must exit 0 within 10 s.
     */
    stack.fileRoot = path.join(logDir, 'files');
    stack.startWorker = async (label = 'worker', env = {}) => {
      const id = env.BP_WORKER_ID || randomName(label);
      let worker;
      let url;
      await startOnFreePorts(1, async ([port]) => {
        worker = new Service(
          label,
          path.join(binDir, 'batchpipe-delivery-worker'),
          [],
          {
            BP_CONTROL_PLANE_ADDR: stack.controlPlaneGrpc,
            BP_NATS_URL: natsUrl,
            BP_HTTP_LISTEN: `127.0.0.1:${port}`,
            BP_FILE_SINK_ROOT: stack.fileRoot,
            BP_WEBHOOK_ALLOW_PRIVATE: '1',
            BP_LEASE_TTL_MS: '2000',
            BP_REFRESH_MS: '500',
            BP_WORKER_ID: id,
            ...env,
          },
          logDir,
        );
        services.push(worker);
        url = `http://127.0.0.1:${port}`;
        return waitReady(`${url}/readyz`, worker, label);
      });
      return {
        label,
        id,
        url,
        service: worker,
        get running() {
          return worker.running;
        },
        stop: () => worker.stop(),
        kill9: () => worker.kill9(),
      };
    };

    /**
     * Creates a fresh database on the test Postgres for a sink (dropped when the stack stops).
     * Returns { name, url, host, port, user, password }.
     */
    stack.createDatabase = async (prefix = 'bp_sink') => {
      const name = randomName(prefix);
      await psql(pgUrl, `CREATE DATABASE ${name}`);
      sinkDatabases.push(name);
      const server = new URL(pgUrl);
      return {
        name,
        url: databaseUrl(pgUrl, name),
        host: server.hostname,
        port: Number(server.port || 5432),
        user: decodeURIComponent(server.username || 'postgres'),
        password: decodeURIComponent(server.password || ''),
      };
    };

    stack.gatewayUrl = (await stack.startGateway()).url;
    return stack;
  } catch (err) {
    const logs = stack.logs(40);
    await stack.stop().catch(() => {});
    await rm(logDir, { recursive: true, force: true });
    err.message += `\n${logs}`;
    throw err;
  }
}

const knownBugs = new Set();

/**
 * A test of behaviour the gateway does not have yet (a reported bug): it runs and is reported
 * as TODO, without failing the suite and without dumping the service logs.
 */
export function knownBugTest(name, bug, fn) {
  knownBugs.add(name);
  test(name, { todo: bug }, fn);
}

/**
 * Registers before/after hooks that start a stack for this test file and stop it afterwards
 * (asserting a clean SIGTERM exit); prints the services' logs when a test failed. The returned
 * object is filled in by the `before` hook.
 *
 * options.setup(stack) and options.teardown(stack) run inside those hooks: Node 20 does not
 * wait for one root-level `before` hook before it starts the next, so a test file must not add
 * its own root-level hooks that depend on the stack.
 */
export function useStack({ setup, teardown, ...options } = {}) {
  const stack = {};
  let failures = 0;
  before(async () => {
    Object.assign(stack, await startStack(options));
    if (setup) await setup(stack);
  });
  afterEach((t) => {
    if (t.passed === false && !knownBugs.has(t.name)) failures += 1;
  });
  after(async () => {
    if (!stack.stop) return;
    if (teardown) await teardown(stack);
    const problems = await stack.stop();
    if (failures > 0 || problems.length > 0) {
      process.stderr.write(`\n${stack.logs()}\n`);
    }
    await rm(stack.logDir, { recursive: true, force: true });
    assert.deepEqual(problems, [], 'services stop cleanly on SIGTERM');
  });
  return stack;
}

/**
 * Calls fn until it returns without throwing, or rethrows its last error after timeoutMs. For
 * settings that reach the gateway through a change event (a NATS round trip).
 */
export async function eventually(fn, { timeoutMs = 2000, intervalMs = 50 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() >= deadline) throw err;
      await sleep(intervalMs);
    }
  }
}
