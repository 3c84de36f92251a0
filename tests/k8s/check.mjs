// Checks the rendered Kubernetes overlays, deploy/Dockerfile, deploy/docker-compose.yaml and
// deploy/grafana-dashboard.json against what the binaries actually read and serve.
// Run by tests/k8s/check.sh, which renders the overlays:
//   node check.mjs --repo DIR --bin-dir DIR --rendered DIR
// Exit 1 with one line per problem; notes (things not verifiable here) go to stdout.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, parseAll } from './yaml.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const repo = args.repo;
const binDir = args['bin-dir'];
const renderedDir = args.rendered;

const problems = [];
const notes = [];
const problem = (ctx, msg) => problems.push(`${ctx}: ${msg}`);
const note = (msg) => notes.push(msg);

const BINARIES = ['batchpipe-gateway', 'batchpipe-control-plane', 'batchpipe-delivery-worker'];
const SHORT = { 'batchpipe-gateway': 'gateway', 'batchpipe-control-plane': 'control-plane', 'batchpipe-delivery-worker': 'delivery-worker' };
// The sockets each long-running binary must open where probes and peers can reach them.
const LISTEN = {
  'batchpipe-gateway': ['BP_HTTP_LISTEN'],
  'batchpipe-control-plane': ['BP_GRPC_LISTEN', 'BP_HTTP_LISTEN'],
  'batchpipe-delivery-worker': ['BP_HTTP_LISTEN'],
};

// ---------------------------------------------------------------------------------------------
// What each binary reads: its --help list (the settings it declares), plus the names
// docs/CONFIGURATION.md gives for it that the binary really contains as a string (settings read
// outside the declared list, such as BP_MASTER_KEY_FILE). Without binaries: the docs alone.

function flagName(env) {
  return env.replace(/^BP_/, '').toLowerCase().replace(/_/g, '-');
}

function docsSettings() {
  const text = fs.readFileSync(path.join(repo, 'docs/CONFIGURATION.md'), 'utf8');
  const out = Object.fromEntries(BINARIES.map((b) => [b, new Set()]));
  let current = null;
  for (const line of text.split('\n')) {
    const h = /^##\s+(.*)$/.exec(line);
    if (h) {
      current = BINARIES.find((b) => h[1].includes(b) || h[1].trim().startsWith(SHORT[b])) || null;
      continue;
    }
    if (current && line.startsWith('|')) {
      const first = line.split('|')[1] || '';
      for (const m of first.matchAll(/`(BP_[A-Z0-9_]+)`/g)) out[current].add(m[1]);
    }
  }
  return out;
}

function binarySettings() {
  const docs = docsSettings();
  const result = {};
  for (const b of BINARIES) {
    const file = path.join(binDir, b);
    const s = { env: new Set(), flags: new Set(), helpEnv: new Set(), source: 'docs/CONFIGURATION.md' };
    if (fs.existsSync(file)) {
      const run = spawnSync(file, ['--help'], { encoding: 'utf8', timeout: 10000, env: { PATH: process.env.PATH } });
      const text = `${run.stdout || ''}${run.stderr || ''}`;
      for (const m of text.matchAll(/^\s+--([a-z0-9-]+) \/ (BP_[A-Z0-9_]+) \(/gm)) {
        s.flags.add(m[1]);
        s.env.add(m[2]);
        s.helpEnv.add(m[2]);
      }
      if (s.env.size === 0) {
        problem(b, `\`${file} --help\` printed no settings list:\n${text.slice(0, 400)}`);
        continue;
      }
      const bytes = fs.readFileSync(file);
      for (const name of docs[b]) {
        if (!s.env.has(name) && bytes.includes(Buffer.from(`${name}\0`))) s.env.add(name);
      }
      for (const name of s.helpEnv) {
        if (!docs[b].has(name)) note(`warning: ${b} reads ${name}, which docs/CONFIGURATION.md does not list`);
      }
      s.source = `${file} --help`;
    } else {
      for (const name of docs[b]) {
        s.env.add(name);
        s.flags.add(flagName(name));
      }
      note(`${b}: binary not found in ${binDir}; BP_* names checked against docs/CONFIGURATION.md only`);
    }
    result[b] = s;
  }
  return result;
}

const SETTINGS = binarySettings();
const DEFAULTS = {
  BP_MAX_BODY_BYTES: 33554432,
  BP_DRAIN_TIMEOUT_MS: 10000,
  BP_STREAM_REPLICAS: 1,
  BP_STREAM_MAX_BYTES: 10737418240,
  BP_FILE_SINK_ROOT: '/var/lib/batchpipe/files',
};

// ---------------------------------------------------------------------------------------------
// Small helpers over Kubernetes objects.

const get = (o, p) => p.split('.').reduce((x, k) => (x == null ? undefined : x[k]), o);

function imageParts(image) {
  const noDigest = image.split('@')[0];
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  const hasTag = colon > slash;
  const repoPath = hasTag ? noDigest.slice(0, colon) : noDigest;
  return { repo: repoPath, base: repoPath.split('/').pop(), tag: hasTag ? noDigest.slice(colon + 1) : null, digest: image.includes('@') };
}

function labelsMatch(selector, labels) {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels || {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions || []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    if (e.operator === 'In' && !(has && e.values.includes(labels[e.key]))) return false;
    if (e.operator === 'NotIn' && has && e.values.includes(labels[e.key])) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

function parseQuantity(q) {
  const m = /^([0-9.]+)([KMGTPE]i?|m)?$/.exec(String(q));
  if (!m) return NaN;
  const mult = { undefined: 1, m: 1e-3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
  return Number(m[1]) * mult[m[2]];
}

function hostPort(value) {
  const m = /^(\[[^\]]*\]|[^:]*):([0-9]+)$/.exec(value || '');
  return m ? { host: m[1], port: Number(m[2]) } : null;
}

function decodeSecret(secret, key) {
  if (secret.stringData && key in secret.stringData) return String(secret.stringData[key]);
  if (secret.data && key in secret.data) return Buffer.from(String(secret.data[key]), 'base64').toString('utf8');
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// One rendered overlay.

function checkOverlay(name, objects) {
  const ctx = `overlay ${name}`;
  const byKind = (kind) => objects.filter((o) => o && o.kind === kind);
  const find = (kind, n) => objects.find((o) => o && o.kind === kind && o.metadata?.name === n);
  const namespaces = byKind('Namespace').map((o) => o.metadata.name);
  const policies = byKind('NetworkPolicy');
  const ns = objects.find((o) => o?.metadata?.namespace)?.metadata.namespace;
  if (!ns) problem(ctx, 'no namespace set on the objects');
  for (const o of objects) {
    if (!o || o.kind === 'Namespace') continue;
    if (o.metadata?.namespace !== ns) problem(ctx, `${o.kind}/${o.metadata?.name} is in namespace ${o.metadata?.namespace}, not ${ns}`);
  }
  if (!namespaces.includes(ns)) note(`${ctx}: namespace ${ns} is not created by the overlay`);

  // Workloads and their containers.
  const workloads = objects.filter((o) => ['Deployment', 'StatefulSet', 'Job', 'DaemonSet'].includes(o?.kind));
  const pods = []; // { owner, labels, spec, containers }
  for (const w of workloads) {
    const spec = get(w, 'spec.template.spec');
    const labels = get(w, 'spec.template.metadata.labels') || {};
    const wctx = `${ctx}: ${w.kind}/${w.metadata.name}`;
    if (!spec) {
      problem(wctx, 'no pod template');
      continue;
    }
    if (w.kind !== 'Job' && !labelsMatch(w.spec.selector, labels)) problem(wctx, 'selector does not match the pod template labels');
    pods.push({ owner: w, labels, spec });
    const podSc = spec.securityContext || {};
    const all = [...(spec.initContainers || []), ...(spec.containers || [])];
    for (const c of all) {
      const cctx = `${wctx} container ${c.name}`;
      const sc = c.securityContext || {};
      if (!c.securityContext) problem(cctx, 'no securityContext');
      if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true) problem(cctx, 'runAsNonRoot is not true');
      if ((sc.runAsUser ?? podSc.runAsUser) === 0) problem(cctx, 'runs as uid 0');
      if (sc.readOnlyRootFilesystem !== true) problem(cctx, 'readOnlyRootFilesystem is not true');
      if (sc.allowPrivilegeEscalation !== false) problem(cctx, 'allowPrivilegeEscalation is not false');
      if (sc.privileged) problem(cctx, 'privileged');
      if (!(sc.capabilities?.drop || []).includes('ALL')) problem(cctx, 'capabilities do not drop ALL');
      if ((sc.capabilities?.add || []).length) problem(cctx, `adds capabilities ${sc.capabilities.add}`);
      const seccomp = (sc.seccompProfile || podSc.seccompProfile || {}).type;
      if (!['RuntimeDefault', 'Localhost'].includes(seccomp)) problem(cctx, 'no RuntimeDefault seccompProfile');
      for (const r of ['requests.cpu', 'requests.memory', 'limits.memory']) {
        if (get(c.resources || {}, r) == null) problem(cctx, `no resources.${r}`);
      }
      if (!c.image) problem(cctx, 'no image');
      else {
        const img = imageParts(c.image);
        if (!img.digest && (!img.tag || img.tag === 'latest')) problem(cctx, `image ${c.image} has no fixed tag`);
      }
    }
  }

  // Pods selected by a selector (same namespace).
  const podsFor = (selector) => pods.filter((p) => labelsMatch({ matchLabels: selector }, p.labels));
  const containerPort = (pod, port) => {
    for (const c of pod.spec.containers || []) {
      for (const p of c.ports || []) {
        if ((typeof port === 'number' && p.containerPort === port) || p.name === port) return p.containerPort;
      }
    }
    return undefined;
  };

  // ConfigMaps and Secrets by name, for envFrom and references.
  const configMaps = Object.fromEntries(byKind('ConfigMap').map((o) => [o.metadata.name, o]));
  const secrets = Object.fromEntries(byKind('Secret').map((o) => [o.metadata.name, o]));
  const cnpgClusters = byKind('Cluster').filter((o) => o.apiVersion?.startsWith('postgresql.cnpg.io/'));
  const externalSecrets = new Set();

  // Resolves a secretKeyRef / configMapKeyRef, recording Secrets that must exist before apply.
  function checkRef(cctx, kind, ref) {
    if (!ref?.name || !ref.key) return problem(cctx, `${kind} reference without name or key`);
    if (kind === 'configMap') {
      const cm = configMaps[ref.name];
      if (!cm) return problem(cctx, `ConfigMap ${ref.name} is not part of the overlay`);
      if (!(ref.key in (cm.data || {}))) problem(cctx, `ConfigMap ${ref.name} has no key ${ref.key}`);
      return;
    }
    const s = secrets[ref.name];
    if (s) {
      if (decodeSecret(s, ref.key) === undefined) problem(cctx, `Secret ${ref.name} has no key ${ref.key}`);
      return;
    }
    const cluster = cnpgClusters.find((cl) => ref.name === `${cl.metadata.name}-app`);
    if (cluster) {
      if (!['uri', 'username', 'password', 'host', 'port', 'dbname', 'pgpass', 'jdbc-uri'].includes(ref.key)) {
        problem(cctx, `CloudNativePG Secret ${ref.name} has no key ${ref.key}`);
      }
      return;
    }
    externalSecrets.add(ref.name);
  }

  // The NATS servers and their configuration.
  const natsSets = byKind('StatefulSet').filter((s) => (s.spec.template.spec.containers || []).some((c) => imageParts(c.image || '').base === 'nats'));
  let nats = null;
  if (natsSets.length !== 1) problem(ctx, `expected one NATS StatefulSet, found ${natsSets.length}`);
  else nats = checkNats(ctx, natsSets[0], configMaps, find);

  // BatchPipe containers.
  const services = byKind('Service');
  const bp = []; // { pod, container, binary, env }
  for (const pod of pods) {
    for (const c of pod.spec.containers || []) {
      const img = imageParts(c.image || '');
      if (!BINARIES.includes(img.base)) continue;
      const binary = img.base;
      const cctx = `${ctx}: ${pod.owner.kind}/${pod.owner.metadata.name} container ${c.name} (${binary})`;
      const settings = SETTINGS[binary];
      const env = {}; // name -> { value } | { valueFrom }
      for (const from of c.envFrom || []) {
        if (from.configMapRef) {
          const cm = configMaps[from.configMapRef.name];
          if (!cm) {
            problem(cctx, `envFrom ConfigMap ${from.configMapRef.name} is not part of the overlay: its keys cannot be checked`);
            continue;
          }
          for (const [k, v] of Object.entries(cm.data || {})) env[(from.prefix || '') + k] = { value: String(v), from: `ConfigMap ${cm.metadata.name}` };
        } else if (from.secretRef) {
          const s = secrets[from.secretRef.name];
          if (!s) {
            problem(cctx, `envFrom Secret ${from.secretRef.name} is not part of the overlay: its keys cannot be checked`);
            continue;
          }
          for (const k of Object.keys({ ...(s.data || {}), ...(s.stringData || {}) })) env[(from.prefix || '') + k] = { value: decodeSecret(s, k), from: `Secret ${s.metadata.name}` };
        }
      }
      for (const e of c.env || []) {
        if (e.valueFrom?.secretKeyRef) checkRef(cctx, 'secret', e.valueFrom.secretKeyRef);
        if (e.valueFrom?.configMapKeyRef) checkRef(cctx, 'configMap', e.valueFrom.configMapKeyRef);
        env[e.name] = e.valueFrom ? { valueFrom: e.valueFrom } : { value: e.value == null ? '' : String(e.value) };
      }
      for (const n of Object.keys(env)) {
        if (n.startsWith('BP_') && !settings.env.has(n)) problem(cctx, `sets ${n}, which ${binary} does not read (per ${settings.source})`);
      }
      // Command and arguments.
      if (c.command && !(c.command.length === 1 && [binary, `/usr/local/bin/${binary}`].includes(c.command[0]))) {
        problem(cctx, `command ${JSON.stringify(c.command)} does not run ${binary}`);
      }
      const positional = [];
      for (const a of c.args || []) {
        const m = /^--([a-z0-9-]+)(=.*)?$/.exec(a);
        if (m) {
          if (!settings.flags.has(m[1])) problem(cctx, `flag --${m[1]} is not a setting of ${binary}`);
        } else positional.push(a);
      }
      if (binary === 'batchpipe-control-plane') {
        if (positional.length > 1 || (positional[0] && !['serve', 'migrate', 'bootstrap'].includes(positional[0]))) {
          problem(cctx, `arguments ${JSON.stringify(positional)}: expected serve, migrate or bootstrap`);
        }
      } else if (positional.length) problem(cctx, `unexpected arguments ${JSON.stringify(positional)}`);
      const command = binary === 'batchpipe-control-plane' ? positional[0] || 'serve' : 'serve';
      const value = (n) => (env[n] && 'value' in env[n] ? env[n].value : undefined);
      const entry = { pod, container: c, binary, env, value, command, cctx };
      bp.push(entry);
      checkMounts(cctx, pod, c, entry);
      if (pod.owner.kind === 'Job') continue;
      if (command !== 'serve') problem(cctx, `a ${pod.owner.kind} runs "${command}", not the server`);
      checkListenAndProbes(cctx, c, entry);
    }
  }

  const byBinary = (b, kind = 'Deployment') => bp.filter((e) => e.binary === b && e.pod.owner.kind === kind && e.command === 'serve');
  for (const b of BINARIES) {
    if (byBinary(b).length !== 1) problem(ctx, `expected one Deployment running ${b}, found ${byBinary(b).length}`);
  }
  const cp = byBinary('batchpipe-control-plane')[0];
  const gw = byBinary('batchpipe-gateway')[0];
  const worker = byBinary('batchpipe-delivery-worker')[0];
  const bootstrap = bp.find((e) => e.binary === 'batchpipe-control-plane' && e.pod.owner.kind === 'Job' && e.command === 'bootstrap');

  // Control-plane: database, master key, replicas, bootstrap Job.
  if (cp) {
    const d = cp.pod.owner;
    if ((d.spec.replicas ?? 1) < 2) problem(cp.cctx, `replicas ${d.spec.replicas ?? 1}: want at least 2`);
    for (const e of [cp, bootstrap].filter(Boolean)) {
      if (!e.env.BP_PG_URL) problem(e.cctx, 'BP_PG_URL is not set');
      if (!e.env.BP_MASTER_KEY_FILE && !e.env.BP_MASTER_KEY) problem(e.cctx, 'neither BP_MASTER_KEY_FILE nor BP_MASTER_KEY is set');
      if (e.env.BP_MASTER_KEY && 'value' in e.env.BP_MASTER_KEY) problem(e.cctx, 'BP_MASTER_KEY is a literal value: use a Secret');
      if (e.env.BP_PG_URL && 'value' in e.env.BP_PG_URL && e.env.BP_PG_URL.from?.startsWith('ConfigMap')) problem(e.cctx, 'BP_PG_URL comes from a ConfigMap: use a Secret');
    }
    if (!bootstrap) problem(ctx, 'no Job runs `batchpipe-control-plane bootstrap`');
    else {
      if (JSON.stringify(bootstrap.env.BP_PG_URL) !== JSON.stringify(cp.env.BP_PG_URL)) problem(bootstrap.cctx, 'BP_PG_URL differs from the control-plane Deployment');
      const keyVolume = (e) => {
        const file = e.value('BP_MASTER_KEY_FILE');
        const m = file && (e.container.volumeMounts || []).find((vm) => file.startsWith(vm.mountPath.replace(/\/?$/, '/')));
        const v = m && (e.pod.spec.volumes || []).find((x) => x.name === m.name);
        return v?.secret?.secretName;
      };
      if (keyVolume(bootstrap) !== keyVolume(cp)) problem(bootstrap.cctx, 'master key Secret differs from the control-plane Deployment');
      if (!['OnFailure', 'Never'].includes(bootstrap.pod.spec.restartPolicy)) problem(bootstrap.cctx, 'restartPolicy must be OnFailure or Never');
    }
    checkDatabase(ctx, cp, { secrets, services, pods, cnpgClusters, podsFor, containerPort });
    const replicas = Number(cp.value('BP_STREAM_REPLICAS') ?? DEFAULTS.BP_STREAM_REPLICAS);
    if (nats) {
      if (replicas > nats.replicas) problem(cp.cctx, `BP_STREAM_REPLICAS=${replicas} but only ${nats.replicas} NATS servers`);
      const maxBytes = Number(cp.value('BP_STREAM_MAX_BYTES') ?? DEFAULTS.BP_STREAM_MAX_BYTES);
      if (nats.storageBytes && maxBytes > nats.storageBytes * 0.8) {
        problem(cp.cctx, `BP_STREAM_MAX_BYTES=${maxBytes} does not leave room on the ${nats.storage} NATS volumes (BP_DLQ, leases)`);
      }
    }
    if (name === 'prod' && replicas !== 3) problem(cp.cctx, `BP_STREAM_REPLICAS=${replicas}: prod keeps the streams at 3 replicas`);
  }

  // Gateway: body size against the NATS max_payload, drain time against the grace period.
  if (gw && nats) {
    const body = Number(gw.value('BP_MAX_BODY_BYTES') ?? DEFAULTS.BP_MAX_BODY_BYTES);
    if (!nats.maxPayload) problem(ctx, 'nats.conf sets no max_payload (the default, 1MB, is below any useful BP_MAX_BODY_BYTES)');
    else if (body * 2 > nats.maxPayload) problem(gw.cctx, `BP_MAX_BODY_BYTES=${body} is more than half the NATS max_payload (${nats.maxPayload}): large bodies would fail to publish (503) instead of answering 413`);
  }
  if (gw) {
    const drain = Number(gw.value('BP_DRAIN_TIMEOUT_MS') ?? DEFAULTS.BP_DRAIN_TIMEOUT_MS) / 1000;
    const preStop = gw.container.lifecycle?.preStop?.exec?.command;
    const sleep = preStop && preStop[0] === 'sleep' ? Number(preStop[1]) : 0;
    const grace = gw.pod.spec.terminationGracePeriodSeconds ?? 30;
    if (grace <= drain + sleep) problem(gw.cctx, `terminationGracePeriodSeconds ${grace} <= preStop ${sleep}s + BP_DRAIN_TIMEOUT_MS ${drain}s`);
  }

  // Addresses the services dial: control-plane gRPC and NATS, through Services of this overlay.
  for (const e of [gw, worker].filter(Boolean)) {
    const addr = e.value('BP_CONTROL_PLANE_ADDR');
    if (!addr) problem(e.cctx, 'BP_CONTROL_PLANE_ADDR is not set (the default is 127.0.0.1)');
    else if (cp) {
      const grpcPort = hostPort(cp.value('BP_GRPC_LISTEN'))?.port;
      // gRPC target syntax: host:port or dns:///host:port. With several control-plane replicas the
      // clients balance round-robin over the addresses DNS gives, which takes a headless Service
      // (a ClusterIP would pin every long-lived HTTP/2 connection to one replica).
      const dns = /^dns:\/\/\/(.+)$/.exec(addr);
      checkDial(e.cctx, 'BP_CONTROL_PLANE_ADDR', dns ? dns[1] : addr, cp.pod, grpcPort);
      const svc = dns && resolveService(hostPort(dns[1])?.host ?? '').svc;
      const replicas = cp.pod.owner.spec?.replicas ?? 1;
      if (replicas > 1 && !(dns && svc && svc.spec.clusterIP === 'None')) {
        problem(e.cctx, `BP_CONTROL_PLANE_ADDR=${addr}: ${replicas} control-plane replicas need dns:/// over a headless Service to share the calls`);
      }
    }
  }
  for (const e of [gw, cp, worker].filter(Boolean)) {
    const urls = e.value('BP_NATS_URL');
    if (!urls) problem(e.cctx, 'BP_NATS_URL is not set (the default is 127.0.0.1)');
    else if (nats) {
      for (const u of urls.split(',')) {
        const m = /^nats:\/\/(?:[^@/]*@)?([^:/]+:[0-9]+)\/?$/.exec(u.trim());
        if (!m) problem(e.cctx, `BP_NATS_URL entry ${u} is not nats://host:port`);
        else checkDial(e.cctx, 'BP_NATS_URL', m[1], nats.pod, nats.clientPort);
      }
    }
  }

  function resolveService(hostName) {
    const parts = hostName.split('.');
    const [svcName, svcNs] = parts;
    if (parts.length > 1 && !(svcNs === ns && (parts.length === 2 || parts[2] === 'svc'))) return { error: `${hostName} is not a Service of namespace ${ns}` };
    const svc = services.find((s) => s.metadata.name === svcName);
    return svc ? { svc } : { error: `no Service ${svcName} in the overlay` };
  }

  // host:port must be a Service port that reaches `port` on the pods of `target`.
  function checkDial(cctx, setting, addr, target, port) {
    const hp = hostPort(addr);
    if (!hp) return problem(cctx, `${setting}=${addr} is not host:port`);
    const { svc, error } = resolveService(hp.host);
    if (error) return problem(cctx, `${setting}=${addr}: ${error}`);
    if (!labelsMatch({ matchLabels: svc.spec.selector || {} }, target.labels)) {
      return problem(cctx, `${setting}=${addr}: Service ${svc.metadata.name} does not select ${target.owner.kind}/${target.owner.metadata.name}`);
    }
    const sp = (svc.spec.ports || []).find((p) => p.port === hp.port);
    if (!sp) return problem(cctx, `${setting}=${addr}: Service ${svc.metadata.name} has no port ${hp.port}`);
    const reached = containerPort(target, sp.targetPort ?? sp.port);
    if (reached !== port) problem(cctx, `${setting}=${addr}: Service port ${hp.port} leads to container port ${reached}, but the server listens on ${port}`);
  }

  function checkListenAndProbes(cctx, c, e) {
    const ports = (c.ports || []).map((p) => p.containerPort);
    for (const n of LISTEN[e.binary]) {
      const v = e.value(n);
      const hp = hostPort(v);
      if (!v) {
        problem(cctx, `${n} is not set (the default listens on 127.0.0.1 only)`);
        continue;
      }
      if (!hp) {
        problem(cctx, `${n}=${v} is not host:port`);
        continue;
      }
      if (!['0.0.0.0', '[::]', '', '::'].includes(hp.host)) problem(cctx, `${n}=${v} does not listen on all addresses`);
      if (!ports.includes(hp.port)) problem(cctx, `${n} port ${hp.port} is not a containerPort (${ports})`);
    }
    const httpPort = hostPort(e.value('BP_HTTP_LISTEN'))?.port;
    const probes = { readinessProbe: '/readyz', livenessProbe: '/healthz', startupProbe: '/healthz' };
    for (const [probe, wanted] of Object.entries(probes)) {
      const p = c[probe];
      if (!p) {
        if (probe !== 'startupProbe') problem(cctx, `no ${probe}`);
        continue;
      }
      if (!p.httpGet) {
        problem(cctx, `${probe} is not an httpGet probe`);
        continue;
      }
      if (p.httpGet.path !== wanted) problem(cctx, `${probe} path ${p.httpGet.path}, want ${wanted}`);
      if ((p.httpGet.scheme || 'HTTP') !== 'HTTP') problem(cctx, `${probe} scheme ${p.httpGet.scheme}`);
      const port = containerPort({ spec: { containers: [c] } }, p.httpGet.port);
      if (port !== httpPort) problem(cctx, `${probe} port ${p.httpGet.port} (${port}) is not the BP_HTTP_LISTEN port ${httpPort}`);
    }
  }

  // Paths a container writes or reads must be mounted (the root filesystem is read-only).
  function checkMounts(cctx, pod, c, e) {
    const mountFor = (file) =>
      (c.volumeMounts || [])
        .filter((vm) => file === vm.mountPath || file.startsWith(vm.mountPath.replace(/\/?$/, '/')))
        .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
    const volume = (vm) => (pod.spec.volumes || []).find((v) => v.name === vm.name);
    if (e.binary === 'batchpipe-delivery-worker') {
      const root = e.value('BP_FILE_SINK_ROOT') ?? DEFAULTS.BP_FILE_SINK_ROOT;
      const vm = mountFor(root);
      if (!vm || vm.readOnly) problem(cctx, `BP_FILE_SINK_ROOT ${root} is not on a writable volume (the root filesystem is read-only)`);
      const ca = e.value('BP_WEBHOOK_CA_FILE');
      if (ca && !mountFor(ca)) problem(cctx, `BP_WEBHOOK_CA_FILE ${ca} is not on a mounted volume`);
    }
    const keyFile = e.value('BP_MASTER_KEY_FILE');
    if (keyFile) {
      const vm = mountFor(keyFile);
      const v = vm && volume(vm);
      if (!v?.secret) return problem(cctx, `BP_MASTER_KEY_FILE ${keyFile} is not on a Secret volume`);
      const rel = keyFile.slice(vm.mountPath.replace(/\/?$/, '/').length);
      const item = (v.secret.items || []).find((i) => i.path === rel);
      if (v.secret.items && !item) return problem(cctx, `Secret volume ${v.name} has no item with path ${rel}`);
      const key = item ? item.key : rel;
      checkRef(cctx, 'secret', { name: v.secret.secretName, key });
      const mode = item?.mode ?? v.secret.defaultMode ?? 0o644;
      const sc = pod.spec.securityContext || {};
      if (!(mode & 0o004) && !((mode & 0o040) && sc.fsGroup != null)) {
        problem(cctx, `master key file mode ${mode.toString(8)} is not readable by a non-root user (set fsGroup and mode 0440)`);
      }
    }
  }

  // Every Deployment and StatefulSet has a PodDisruptionBudget selecting its pods.
  const pdbs = byKind('PodDisruptionBudget');
  for (const w of workloads.filter((x) => ['Deployment', 'StatefulSet'].includes(x.kind))) {
    const labels = w.spec.template.metadata.labels || {};
    if (!pdbs.some((p) => labelsMatch(p.spec.selector, labels))) problem(ctx, `${w.kind}/${w.metadata.name} has no PodDisruptionBudget`);
  }
  for (const p of pdbs) {
    if (!pods.some((x) => labelsMatch(p.spec.selector, x.labels))) problem(ctx, `PodDisruptionBudget ${p.metadata.name} selects no pods`);
  }

  // Services select pods and lead to declared ports.
  for (const s of services) {
    const selected = pods.filter((p) => p.owner.kind !== 'Job' && labelsMatch({ matchLabels: s.spec.selector || {} }, p.labels));
    const cnpgSelected = cnpgClusters.some((cl) => labelsMatch({ matchLabels: s.spec.selector || {} }, cnpgPodLabels(cl)));
    if (!selected.length && !cnpgSelected) {
      problem(ctx, `Service ${s.metadata.name} selects no pods`);
      continue;
    }
    for (const p of s.spec.ports || []) {
      for (const pod of selected) {
        if (containerPort(pod, p.targetPort ?? p.port) === undefined) problem(ctx, `Service ${s.metadata.name} port ${p.port} targets ${p.targetPort}, which ${pod.owner.metadata.name} does not declare`);
      }
    }
  }

  // Autoscaling: the HPA drives the gateway, KEDA (when present) the workers.
  const hpas = byKind('HorizontalPodAutoscaler');
  const scaled = byKind('ScaledObject');
  const targets = [];
  for (const h of hpas) {
    const t = h.spec.scaleTargetRef;
    targets.push(t.name);
    if (t.kind !== 'Deployment' || !find('Deployment', t.name)) problem(ctx, `HPA ${h.metadata.name} targets ${t.kind}/${t.name}, not a Deployment of the overlay`);
  }
  if (!gw || !hpas.some((h) => h.spec.scaleTargetRef.name === gw.pod.owner.metadata.name)) problem(ctx, 'no HorizontalPodAutoscaler for the gateway');
  for (const so of scaled) checkScaledObject(ctx, so);
  for (const so of scaled) targets.push(so.spec.scaleTargetRef.name);
  for (const t of new Set(targets)) {
    if (targets.filter((x) => x === t).length > 1) problem(ctx, `Deployment ${t} has more than one autoscaler`);
    const d = find('Deployment', t);
    if (d && d.spec.replicas != null) problem(ctx, `Deployment ${t} is autoscaled but sets replicas (every apply would reset them)`);
  }

  function checkScaledObject(pctx, so) {
    const sctx = `${pctx}: ScaledObject ${so.metadata.name}`;
    const d = find('Deployment', so.spec.scaleTargetRef?.name);
    if (!d || !worker || d !== worker.pod.owner) problem(sctx, 'does not target the delivery-worker Deployment');
    if (!(so.spec.triggers || []).length) problem(sctx, 'no triggers');
    for (const t of so.spec.triggers || []) {
      const m = t.metadata || {};
      if (t.type !== 'nats-jetstream') {
        problem(sctx, `trigger type ${t.type}, want nats-jetstream`);
        continue;
      }
      if (m.stream !== 'BP_INGEST') problem(sctx, `stream ${m.stream}, want BP_INGEST`);
      if (!m.account && !m.accountID) problem(sctx, 'no account (the default account is "$G")');
      if (!/^dest-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(m.consumer || '')) {
        problem(sctx, `consumer ${m.consumer}: BatchPipe's consumers are named dest-<destination_id>`);
      } else if (/^dest-0{8}-/.test(m.consumer)) {
        note(`${sctx}: consumer ${m.consumer} is the placeholder; set a real destination's consumer`);
      }
      if (!/^[0-9]+$/.test(String(m.lagThreshold ?? ''))) problem(sctx, 'lagThreshold is not a number');
      const hp = hostPort(m.natsServerMonitoringEndpoint);
      if (!hp) {
        problem(sctx, `natsServerMonitoringEndpoint ${m.natsServerMonitoringEndpoint} is not host:port`);
        continue;
      }
      const parts = hp.host.split('.');
      if (parts.length < 3 || parts[1] !== ns || parts[2] !== 'svc') problem(sctx, `natsServerMonitoringEndpoint ${hp.host}: KEDA runs in another namespace, use <service>.${ns}.svc...`);
      if (nats) {
        checkDial(sctx, 'natsServerMonitoringEndpoint', `${parts[0]}:${hp.port}`, nats.pod, nats.monitorPort);
        if (!allowed({ ns: 'keda', labels: { 'app.kubernetes.io/name': 'keda-operator' } }, nats.pod, nats.monitorPort)) {
          problem(sctx, 'NetworkPolicies do not let the keda namespace reach the NATS monitor port');
        }
      }
    }
  }

  // NetworkPolicies, evaluated for the pods of this overlay.
  if (!policies.some((p) => Object.keys(p.spec.podSelector || {}).length === 0 && (p.spec.policyTypes || ['Ingress']).includes('Ingress') && !(p.spec.ingress || []).length)) {
    problem(ctx, 'no default-deny ingress NetworkPolicy (podSelector {} without rules)');
  }
  function portMatches(rulePort, dstPod, port) {
    if ((rulePort.protocol || 'TCP') !== 'TCP') return false;
    if (rulePort.port === undefined) return true;
    const p = typeof rulePort.port === 'number' ? rulePort.port : containerPort(dstPod, rulePort.port);
    return rulePort.endPort ? port >= p && port <= rulePort.endPort : p === port;
  }
  function peerMatches(peer, src) {
    if (peer.ipBlock) return !!src.external;
    if (src.external) return false;
    if (peer.namespaceSelector) {
      const nsLabels = { 'kubernetes.io/metadata.name': src.ns };
      if (!labelsMatch(peer.namespaceSelector, nsLabels) && Object.keys(peer.namespaceSelector).length) return false;
      return !peer.podSelector || labelsMatch(peer.podSelector, src.labels);
    }
    return src.ns === ns && labelsMatch(peer.podSelector, src.labels);
  }
  // src: { external: true } | { ns, labels }; dstPod: { labels, spec }.
  function allowed(src, dstPod, port) {
    const selecting = policies.filter((p) => labelsMatch(p.spec.podSelector, dstPod.labels) && (p.spec.policyTypes || ['Ingress']).includes('Ingress'));
    if (!selecting.length) return true;
    return selecting.some((p) =>
      (p.spec.ingress || []).some(
        (rule) =>
          (!(rule.ports || []).length || rule.ports.some((rp) => portMatches(rp, dstPod, port))) &&
          (!(rule.from || []).length || rule.from.some((peer) => peerMatches(peer, src))),
      ),
    );
  }
  const external = { external: true, what: 'outside traffic' };
  const intruder = { ns, labels: { app: 'some-other-pod' }, what: 'another pod of the namespace' };
  const asSrc = (e, what) => e && { ns, labels: e.pod.labels, what };
  const expect = (src, dst, port, want, why) => {
    if (!src || !dst || port === undefined) return;
    const got = allowed(src, dst, port);
    if (got !== want) problem(ctx, `NetworkPolicy: ${src.what} ${got ? 'can' : 'cannot'} reach ${dst.owner?.metadata?.name || dst.what} port ${port} (${why})`);
  };
  const gwSrc = asSrc(gw, 'the gateway');
  const cpSrc = asSrc(cp, 'the control-plane');
  const wkSrc = asSrc(worker, 'the worker');
  const bsSrc = asSrc(bootstrap, 'the bootstrap Job');
  const natsSrc = nats && { ns, labels: nats.pod.labels, what: 'NATS' };
  if (gw) {
    const port = hostPort(gw.value('BP_HTTP_LISTEN'))?.port;
    expect(external, gw.pod, port, true, 'the gateway is public');
  }
  if (cp) {
    const grpc = hostPort(cp.value('BP_GRPC_LISTEN'))?.port;
    const http = hostPort(cp.value('BP_HTTP_LISTEN'))?.port;
    expect(gwSrc, cp.pod, grpc, true, 'the gateway calls the control-plane');
    expect(wkSrc, cp.pod, grpc, true, 'workers call the control-plane');
    for (const s of [external, intruder, natsSrc, bsSrc]) expect(s, cp.pod, grpc, false, 'only the gateway and workers reach the control-plane');
    expect(external, cp.pod, http, false, 'probes and metrics are internal');
  }
  if (worker) expect(external, worker.pod, hostPort(worker.value('BP_HTTP_LISTEN'))?.port, false, 'probes and metrics are internal');
  if (nats) {
    for (const s of [gwSrc, cpSrc, wkSrc]) expect(s, nats.pod, nats.clientPort, true, 'every service uses NATS');
    expect(external, nats.pod, nats.clientPort, false, 'NATS is internal');
    expect(natsSrc, nats.pod, nats.clusterPort, true, 'cluster routes');
    expect(gwSrc, nats.pod, nats.clusterPort, false, 'only NATS servers join the cluster');
  }
  // Postgres pods: a plain StatefulSet (dev) or CloudNativePG instances (labels it gives them).
  const pgPods = [
    ...pods.filter((p) => (p.spec.containers || []).some((c) => imageParts(c.image || '').base === 'postgres')),
    ...cnpgClusters.map((cl) => ({ labels: cnpgPodLabels(cl), spec: { containers: [{ ports: [{ name: 'postgresql', containerPort: 5432 }, { name: 'status', containerPort: 8000 }] }] }, what: `CloudNativePG ${cl.metadata.name}`, owner: { metadata: { name: `Cluster ${cl.metadata.name}` } } })),
  ];
  if (!pgPods.length) note(`${ctx}: no Postgres in the overlay (external database)`);
  for (const pg of pgPods) {
    expect(cpSrc, pg, 5432, true, 'the control-plane owns the database');
    expect(bsSrc, pg, 5432, true, 'the bootstrap Job migrates and writes the workspace');
    for (const s of [gwSrc, wkSrc, natsSrc, intruder, external]) expect(s, pg, 5432, false, 'only the control-plane reaches Postgres');
  }

  return { externalSecrets: [...externalSecrets], ns };
}

function cnpgPodLabels(cl) {
  return { ...(cl.spec.inheritedMetadata?.labels || {}), 'cnpg.io/cluster': cl.metadata.name };
}

// The NATS StatefulSet and its server configuration.
function checkNats(ctx, sts, configMaps, find) {
  const nctx = `${ctx}: StatefulSet/${sts.metadata.name}`;
  const spec = sts.spec.template.spec;
  const c = spec.containers.find((x) => imageParts(x.image || '').base === 'nats');
  const img = imageParts(c.image);
  const v = /^v?([0-9]+)\.([0-9]+)/.exec(img.tag || '');
  if (!v) problem(nctx, `image ${c.image}: cannot tell the NATS version from the tag`);
  else if (Number(v[1]) < 2 || (Number(v[1]) === 2 && Number(v[2]) < 10)) problem(nctx, `image ${c.image}: NATS 2.10 or later is needed (sync_interval: always)`);
  if (img.repo !== 'nats' && !img.repo.endsWith('/nats')) problem(nctx, `image ${c.image} is not the official nats image`);
  const replicas = sts.spec.replicas ?? 1;
  if (replicas < 3 || replicas % 2 === 0) problem(nctx, `replicas ${replicas}: want an odd number, at least 3`);

  // The configuration file given with --config, from a ConfigMap volume.
  const argv = [...(c.command || []), ...(c.args || [])];
  const cfgPath = argv[argv.findIndex((a) => a === '--config' || a === '-c') + 1];
  const vm = cfgPath && (c.volumeMounts || []).find((m) => cfgPath.startsWith(m.mountPath.replace(/\/?$/, '/')));
  const vol = vm && (spec.volumes || []).find((x) => x.name === vm.name);
  const cm = vol?.configMap && configMaps[vol.configMap.name];
  const conf = cm?.data?.[cfgPath.slice(vm.mountPath.replace(/\/?$/, '/').length)];
  if (!conf) {
    problem(nctx, `cannot find the configuration file ${cfgPath} in a ConfigMap of the overlay`);
    return null;
  }
  const text = conf.replace(/(^|\s)#.*$/gm, '');
  const block = (name) => {
    const m = new RegExp(`(^|\\n)\\s*${name}\\s*[:=]?\\s*\\{`).exec(text);
    if (!m) return null;
    let depth = 0;
    for (let i = m.index + m[0].length - 1; i < text.length; i++) {
      if (text[i] === '{') depth++;
      else if (text[i] === '}' && --depth === 0) return text.slice(m.index + m[0].length, i);
    }
    return null;
  };
  const js = block('jetstream');
  const cluster = block('cluster');
  const top = text.replace(/\{[^]*?\}/g, '{}');
  const setting = (src, name) => new RegExp(`(^|\\n)\\s*${name}\\s*[:=]\\s*("?)([^"\\n]+)\\2\\s*(\\n|$)`).exec(src || '')?.[3].trim();
  if (!js) problem(nctx, 'nats.conf has no jetstream block');
  else {
    if (setting(js, 'sync_interval') !== 'always' && setting(js, 'sync') !== 'always') problem(nctx, 'nats.conf jetstream block lacks `sync_interval: always`');
    const store = setting(js, 'store_dir') || setting(js, 'store');
    const claims = (sts.spec.volumeClaimTemplates || []).map((t) => t.metadata.name);
    const storeMount = store && (c.volumeMounts || []).find((m) => store === m.mountPath || store.startsWith(m.mountPath.replace(/\/?$/, '/')));
    if (!storeMount || !claims.includes(storeMount.name)) problem(nctx, `JetStream store_dir ${store} is not on a volumeClaimTemplate`);
  }
  const port = Number(setting(top, 'port') ?? 4222);
  const monitor = Number(setting(top, 'http_port') ?? setting(top, 'http')?.split(':').pop());
  const payload = setting(top, 'max_payload');
  const sizeOf = (s) => {
    const m = /^([0-9]+)\s*(K|KB|M|MB|G|GB)?$/i.exec(s || '');
    return m ? Number(m[1]) * ({ K: 1024, KB: 1024, M: 1024 ** 2, MB: 1024 ** 2, G: 1024 ** 3, GB: 1024 ** 3 }[(m[2] || '').toUpperCase()] || 1) : undefined;
  };
  const ports = Object.fromEntries((c.ports || []).map((p) => [p.containerPort, p.name]));
  if (!ports[port]) problem(nctx, `client port ${port} (nats.conf) is not a containerPort`);
  if (!monitor || !ports[monitor]) problem(nctx, `monitor port ${monitor} (nats.conf http_port) is not a containerPort`);
  for (const [probe, path] of [['readinessProbe', '/healthz'], ['livenessProbe', '/healthz'], ['startupProbe', '/healthz']]) {
    const p = c[probe]?.httpGet;
    if (!p) {
      problem(nctx, `no httpGet ${probe}`);
      continue;
    }
    if (!p.path.startsWith(path)) problem(nctx, `${probe} path ${p.path}`);
    const pp = typeof p.port === 'number' ? p.port : Number(Object.keys(ports).find((k) => ports[k] === p.port));
    if (pp !== monitor) problem(nctx, `${probe} port ${p.port} is not the monitor port ${monitor}`);
  }
  // Cluster routes: <pod>.<headless service> for every replica; server_name = pod name.
  if (!cluster) problem(nctx, 'nats.conf has no cluster block');
  const clusterPort = Number(setting(cluster, 'port'));
  if (cluster && !ports[clusterPort]) problem(nctx, `cluster port ${clusterPort} is not a containerPort`);
  const routes = [...(cluster || '').matchAll(/nats(?:-route)?:\/\/([^\s,\]"]+)/g)].map((m) => m[1]);
  const headless = find('Service', sts.spec.serviceName);
  if (!headless) problem(nctx, `serviceName ${sts.spec.serviceName} is not a Service of the overlay`);
  else {
    if (headless.spec.clusterIP !== 'None') problem(nctx, `Service ${headless.metadata.name} is not headless`);
    if (headless.spec.publishNotReadyAddresses !== true) problem(nctx, `Service ${headless.metadata.name} must publish not-ready addresses (peers find each other before they are ready)`);
  }
  for (let i = 0; i < replicas; i++) {
    const want = `${sts.metadata.name}-${i}.${sts.spec.serviceName}`;
    if (!routes.some((r) => r === `${want}:${clusterPort}` || r.startsWith(`${want}.`) && r.endsWith(`:${clusterPort}`))) problem(nctx, `nats.conf routes lack ${want}:${clusterPort}`);
  }
  const serverName = setting(top, 'server_name');
  const envName = serverName?.startsWith('$') ? serverName.slice(1) : null;
  const envVar = envName && (c.env || []).find((e) => e.name === envName);
  if (!envVar || envVar.valueFrom?.fieldRef?.fieldPath !== 'metadata.name') problem(nctx, 'server_name must come from the pod name (KEDA and the routes use it)');
  const storage = sts.spec.volumeClaimTemplates?.[0]?.spec?.resources?.requests?.storage;
  return {
    pod: { labels: sts.spec.template.metadata.labels || {}, spec, owner: sts },
    replicas,
    clientPort: port,
    monitorPort: monitor,
    clusterPort,
    maxPayload: sizeOf(payload),
    storage,
    storageBytes: parseQuantity(storage),
  };
}

function checkDatabase(ctx, cp, { secrets, services, pods, cnpgClusters, podsFor, containerPort }) {
  const ref = cp.env.BP_PG_URL?.valueFrom?.secretKeyRef;
  if (!ref) return;
  const cluster = cnpgClusters.find((cl) => ref.name === `${cl.metadata.name}-app`);
  if (cluster) {
    if (ref.key !== 'uri') problem(cp.cctx, `BP_PG_URL from ${ref.name} key ${ref.key}: the libpq URL is key uri`);
    if ((cluster.spec.instances ?? 1) < 3) note(`${ctx}: CloudNativePG Cluster ${cluster.metadata.name} has ${cluster.spec.instances} instance(s)`);
    const owner = cluster.spec.bootstrap?.initdb?.owner;
    if (!owner) note(`${ctx}: CloudNativePG Cluster ${cluster.metadata.name}: no bootstrap.initdb.owner (the app user is "app")`);
    return;
  }
  const s = secrets[ref.name];
  const url = s && decodeSecret(s, ref.key);
  if (!url) return;
  let u;
  try {
    u = new URL(url);
  } catch {
    return problem(cp.cctx, `BP_PG_URL in Secret ${ref.name} is not a URL`);
  }
  if (!['postgres:', 'postgresql:'].includes(u.protocol)) problem(cp.cctx, `BP_PG_URL scheme ${u.protocol}`);
  const svc = services.find((x) => x.metadata.name === u.hostname.split('.')[0]);
  if (!svc) return note(`${ctx}: BP_PG_URL points at ${u.hostname}, outside the overlay`);
  const port = Number(u.port || 5432);
  const sp = (svc.spec.ports || []).find((p) => p.port === port);
  const target = podsFor(svc.spec.selector || {})[0];
  if (!sp || !target || containerPort(target, sp.targetPort ?? sp.port) === undefined) problem(cp.cctx, `BP_PG_URL ${u.hostname}:${port} does not reach a Postgres pod`);
}

// ---------------------------------------------------------------------------------------------
// deploy/Dockerfile: targets, runtime packages against the libraries the binaries need.

function checkDockerfile() {
  const ctx = 'deploy/Dockerfile';
  const file = path.join(repo, 'deploy/Dockerfile');
  if (!fs.existsSync(file)) return problem(ctx, 'missing');
  const text = fs.readFileSync(file, 'utf8').replace(/\\\n/g, ' ');
  const stages = {};
  let cur = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [instr, ...rest] = line.split(/\s+/);
    const arg = rest.join(' ');
    if (/^FROM$/i.test(instr)) {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(arg);
      cur = { from: m[1], name: m[2] || `#${Object.keys(stages).length}`, runs: [], env: {}, expose: [], user: null, entrypoint: null, copies: [] };
      stages[cur.name] = cur;
    } else if (cur && /^RUN$/i.test(instr)) cur.runs.push(arg);
    else if (cur && /^ENV$/i.test(instr)) for (const m of arg.matchAll(/(\w+)=("[^"]*"|\S+)/g)) cur.env[m[1]] = m[2].replace(/^"|"$/g, '');
    else if (cur && /^EXPOSE$/i.test(instr)) cur.expose.push(...rest.map((p) => Number(p.split('/')[0])));
    else if (cur && /^USER$/i.test(instr)) cur.user = arg;
    else if (cur && /^ENTRYPOINT$/i.test(instr)) cur.entrypoint = arg;
    else if (cur && /^COPY$/i.test(instr)) cur.copies.push(arg);
  }
  const chain = (name) => {
    const out = [];
    for (let s = stages[name]; s; s = stages[s.from]) out.push(s);
    return out;
  };
  const aptInstalled = (s) => {
    const pkgs = [];
    for (const run of s.runs) {
      for (const seg of run.split(/&&|;|\|\|/)) {
        const m = /apt-get\s+(?:-\S+\s+)*install\s+(.*)$/.exec(seg.trim());
        if (m) pkgs.push(...m[1].split(/\s+/).filter((w) => w && !w.startsWith('-') && !w.includes('$') && !w.includes('=')));
      }
    }
    return pkgs;
  };
  // The build stage installs the one package list (deploy/packages.txt) and copies what CMake needs.
  const build = Object.values(stages).find((s) => s.runs.some((r) => /cmake|batchpipe\.sh build/.test(r)));
  if (!build) problem(ctx, 'no build stage (cmake)');
  else {
    if (!/^debian:bookworm/.test(chain(build.name).pop().from)) problem(ctx, `build stage is not on debian:bookworm`);
    if (!build.copies.some((c) => c.includes('deploy/packages.txt')) && !build.copies.some((c) => /^\.\s/.test(c))) problem(ctx, 'build stage does not install from deploy/packages.txt');
    // Every directory the CMake build enters (add_subdirectory, recursively) must be copied.
    const sources = build.copies
      .filter((c) => !/--from=/.test(c))
      .flatMap((c) => c.split(/\s+/).filter((w) => !w.startsWith('--')).slice(0, -1))
      .map((w) => w.replace(/^\.\//, '').replace(/\/$/, ''));
    const covered = (dir) => sources.some((src) => src === '.' || dir === src || dir.startsWith(`${src}/`));
    if (!sources.includes('CMakeLists.txt') && !covered('CMakeLists.txt')) problem(ctx, 'build stage does not COPY CMakeLists.txt');
    const visit = (dir) => {
      const file = path.join(repo, dir, 'CMakeLists.txt');
      if (!fs.existsSync(file)) return;
      for (const m of fs.readFileSync(file, 'utf8').matchAll(/^\s*add_subdirectory\(\s*([A-Za-z0-9_.-]+)/gm)) {
        const child = dir ? `${dir}/${m[1]}` : m[1];
        if (!covered(child) && !covered(`${child}/CMakeLists.txt`)) problem(ctx, `build stage does not COPY ${child}/ (CMake adds it)`);
        visit(child);
      }
    };
    visit('');
  }
  const essential = new Set(['libc6', 'libstdc++6', 'libgcc-s1']);
  const lookups = toolsAvailable();
  const targets = [];
  for (const b of BINARIES) {
    const target = SHORT[b];
    const s = stages[target];
    if (!s) {
      problem(ctx, `no target ${target}`);
      continue;
    }
    const ch = chain(target);
    const base = ch[ch.length - 1].from;
    if (!/^debian:bookworm/.test(base)) problem(ctx, `target ${target} is based on ${base}, not debian:bookworm`);
    const pkgs = new Set(ch.flatMap(aptInstalled));
    const user = ch.find((x) => x.user)?.user;
    if (!user || /^(root|0)(:|$)/.test(user) || !/^[0-9]+(:[0-9]+)?$/.test(user)) problem(ctx, `target ${target}: USER ${user} (want a numeric non-root uid, so runAsNonRoot can verify it)`);
    const entry = ch.find((x) => x.entrypoint)?.entrypoint || '';
    if (!entry.includes(b)) problem(ctx, `target ${target}: ENTRYPOINT ${entry} does not run ${b}`);
    const env = Object.assign({}, ...ch.slice().reverse().map((x) => x.env));
    const expose = new Set(ch.flatMap((x) => x.expose));
    for (const n of LISTEN[b]) {
      const hp = hostPort(env[n]);
      if (!hp) problem(ctx, `target ${target}: ENV ${n} is not set (the binary's default listens on 127.0.0.1)`);
      else if (!expose.has(hp.port)) problem(ctx, `target ${target}: ${n} port ${hp.port} is not EXPOSEd`);
    }
    for (const n of Object.keys(env)) if (n.startsWith('BP_') && !SETTINGS[b].env.has(n)) problem(ctx, `target ${target}: ENV ${n} is not read by ${b}`);
    targets.push({ b, target, pkgs });
  }
  // One apt-cache and one dpkg call for everything: each takes a second or so.
  if (lookups.aptCache) {
    const all = [...new Set(targets.flatMap((t) => [...t.pkgs]))];
    const r = spawnSync('apt-cache', ['show', '--no-all-versions', ...all], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const known = new Set([...(r.stdout || '').matchAll(/^Package: (\S+)/gm)].map((m) => m[1]));
    for (const p of all) if (!known.has(p)) problem(ctx, `package ${p} is unknown to apt-cache`);
  }
  if (!lookups.objdump || !lookups.dpkg) return;
  const needed = {};
  for (const t of targets) {
    const bin = path.join(binDir, t.b);
    if (!fs.existsSync(bin)) continue;
    needed[t.b] = [...spawnSync('objdump', ['-p', bin], { encoding: 'utf8' }).stdout.matchAll(/^\s*NEEDED\s+(\S+)/gm)].map((m) => m[1]);
  }
  const libs = [...new Set(Object.values(needed).flat())];
  if (!libs.length) return;
  const owners = {};
  const r = spawnSync('dpkg', ['-S', ...libs.map((l) => `*/${l}`)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  for (const line of (r.stdout || '').split('\n')) {
    const m = /^(.+?): (\S+)$/.exec(line);
    if (!m) continue;
    const lib = path.basename(m[2]);
    for (const pkg of m[1].split(',').map((x) => x.trim().split(':')[0])) (owners[lib] ||= new Set()).add(pkg);
  }
  for (const t of targets) {
    for (const lib of needed[t.b] || []) {
      const o = [...(owners[lib] || [])];
      if (!o.length) {
        note(`${ctx}: ${t.b} needs ${lib}, which no installed Debian package provides here`);
        continue;
      }
      if (!o.some((x) => t.pkgs.has(x) || essential.has(x))) problem(ctx, `target ${t.target}: ${t.b} needs ${lib} (package ${o.join(' or ')}), not installed in the runtime stage`);
    }
  }
}

function toolsAvailable() {
  const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
  const t = { aptCache: has('apt-cache'), objdump: has('objdump'), dpkg: has('dpkg') };
  if (!t.aptCache) note('apt-cache not available: Dockerfile package names not verified');
  if (!t.objdump || !t.dpkg) note('objdump or dpkg not available: runtime libraries of the Dockerfile not verified');
  return t;
}

// ---------------------------------------------------------------------------------------------
// deploy/docker-compose.yaml

function checkCompose() {
  const ctx = 'deploy/docker-compose.yaml';
  const file = path.join(repo, 'deploy/docker-compose.yaml');
  if (!fs.existsSync(file)) return problem(ctx, 'missing');
  let doc;
  try {
    doc = parseYaml(fs.readFileSync(file, 'utf8'), ctx);
  } catch (e) {
    return problem(ctx, e.message);
  }
  const svcs = doc.services || {};
  const envOf = (s) => {
    if (Array.isArray(s.environment)) return Object.fromEntries(s.environment.map((kv) => [String(kv).split('=')[0], String(kv).split('=').slice(1).join('=')]));
    return Object.fromEntries(Object.entries(s.environment || {}).map(([k, v]) => [k, v == null ? '' : String(v)]));
  };
  const words = (v) => (Array.isArray(v) ? v.map(String) : v ? String(v).split(/\s+/) : []);
  const seen = {};
  for (const [name, s] of Object.entries(svcs)) {
    const sctx = `${ctx}: service ${name}`;
    for (const d of Object.keys(Array.isArray(s.depends_on) ? Object.fromEntries(s.depends_on.map((x) => [x, 1])) : s.depends_on || {})) {
      if (!svcs[d]) problem(sctx, `depends_on ${d}, which is not a service`);
    }
    const img = imageParts(String(s.image || ''));
    if (img.base === 'nats') {
      seen.nats = true;
      const v = /^([0-9]+)\.([0-9]+)/.exec(img.tag || '');
      if (!v || Number(v[1]) < 2 || (Number(v[1]) === 2 && Number(v[2]) < 10)) problem(sctx, `image ${s.image}: want nats 2.10 or later`);
      if (!words(s.command).some((w) => w === '-js' || w === '--jetstream')) problem(sctx, 'nats without -js');
    }
    const target = s.build?.target;
    const binary = BINARIES.find((b) => SHORT[b] === target);
    if (!binary) continue;
    const env = envOf(s);
    for (const n of Object.keys(env)) if (n.startsWith('BP_') && !SETTINGS[binary].env.has(n)) problem(sctx, `sets ${n}, which ${binary} does not read`);
    const cmd = words(s.command);
    for (const w of cmd) {
      const m = /^--([a-z0-9-]+)(=.*)?$/.exec(w);
      if (m && !SETTINGS[binary].flags.has(m[1])) problem(sctx, `flag --${m[1]} is not a setting of ${binary}`);
    }
    const positional = cmd.filter((w) => !w.startsWith('--'));
    const sub = binary === 'batchpipe-control-plane' ? positional[0] || 'serve' : 'serve';
    if (sub === 'bootstrap') {
      seen.bootstrap = true;
      if (!env.BP_PG_URL || !(env.BP_MASTER_KEY || env.BP_MASTER_KEY_FILE)) problem(sctx, 'bootstrap needs BP_PG_URL and the master key');
      continue;
    }
    seen[binary] = true;
    for (const n of LISTEN[binary]) {
      const hp = hostPort(env[n]);
      if (!hp) problem(sctx, `${n} is not set to host:port (the default listens on 127.0.0.1)`);
      else if (!['0.0.0.0', '[::]', ''].includes(hp.host)) problem(sctx, `${n}=${env[n]} does not listen on all addresses`);
    }
    const http = hostPort(env.BP_HTTP_LISTEN)?.port;
    const test = words(s.healthcheck?.test).join(' ');
    if (!test.includes('/readyz') || !test.includes(String(http))) problem(sctx, `healthcheck does not ask /readyz on port ${http}`);
    if (binary === 'batchpipe-control-plane' && !(env.BP_PG_URL && (env.BP_MASTER_KEY || env.BP_MASTER_KEY_FILE))) problem(sctx, 'control-plane needs BP_PG_URL and the master key');
    if (binary !== 'batchpipe-control-plane' && !env.BP_CONTROL_PLANE_ADDR) problem(sctx, 'BP_CONTROL_PLANE_ADDR is not set');
    if (!env.BP_NATS_URL) problem(sctx, 'BP_NATS_URL is not set');
  }
  for (const want of ['nats', 'bootstrap', ...BINARIES]) if (!seen[want]) problem(ctx, `no ${want} service`);
  if (!Object.values(svcs).some((s) => imageParts(String(s.image || '')).base === 'postgres')) problem(ctx, 'no postgres service');
}

// ---------------------------------------------------------------------------------------------
// deploy/grafana-dashboard.json: metrics the services serve, or panels marked as pending.

function checkDashboard() {
  const ctx = 'deploy/grafana-dashboard.json';
  const file = path.join(repo, 'deploy/grafana-dashboard.json');
  if (!fs.existsSync(file)) return problem(ctx, 'missing');
  let dash;
  try {
    dash = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    return problem(ctx, `not JSON: ${e.message}`);
  }
  const sources = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(cc|h|cpp|hpp)$/.test(e.name)) sources.push(fs.readFileSync(p, 'utf8'));
    }
  };
  for (const d of ['services', 'libs']) if (fs.existsSync(path.join(repo, d))) walk(path.join(repo, d));
  const all = sources.join('\n');
  const panels = [];
  const collect = (ps) => {
    for (const p of ps || []) {
      panels.push(p);
      collect(p.panels);
    }
  };
  collect(dash.panels);
  if (!panels.length) problem(ctx, 'no panels');
  const used = new Set();
  for (const p of panels) {
    for (const t of p.targets || []) {
      for (const m of String(t.expr || '').matchAll(/\b(bp_[a-z0-9_]+)/g)) {
        const metric = m[1].replace(/_(bucket|sum|count)$/, '');
        used.add(metric);
        const served = new RegExp(`\\b(${metric}|${m[1]})\\b`).test(all);
        if (!served && !/pending/i.test(p.title || '')) {
          problem(ctx, `panel "${p.title}" queries ${m[1]}, which no service serves yet: mark the panel "(pending)"`);
        }
      }
    }
  }
  for (const m of new Set([...all.matchAll(/\b(bp_gateway_[a-z0-9_]+)\b/g)].map((x) => x[1]))) {
    if (!used.has(m)) problem(ctx, `gateway metric ${m} has no panel`);
  }
}

// ---------------------------------------------------------------------------------------------

const overlays = fs.readdirSync(renderedDir).filter((f) => f.endsWith('.yaml') && f !== 'base.yaml').map((f) => f.replace(/\.yaml$/, ''));
if (!overlays.includes('dev') || !overlays.includes('prod')) problem('k8s', `overlays dev and prod expected, found ${overlays}`);
const external = {};
for (const name of overlays.sort()) {
  let objects;
  try {
    objects = parseAll(fs.readFileSync(path.join(renderedDir, `${name}.yaml`), 'utf8'), `overlay ${name}`);
  } catch (e) {
    problem(`overlay ${name}`, `cannot parse the rendered YAML: ${e.message}`);
    continue;
  }
  const r = checkOverlay(name, objects);
  external[name] = r;
  console.log(`overlay ${name}: ${objects.length} objects in namespace ${r.ns}`);
}
// Secrets the overlays reference but do not create must be in the deployment guide.
const guidePath = path.join(repo, 'docs/KUBERNETES.md');
const guide = fs.existsSync(guidePath) ? fs.readFileSync(guidePath, 'utf8') : '';
if (!guide) problem('docs/KUBERNETES.md', 'missing');
for (const [name, r] of Object.entries(external)) {
  for (const s of r.externalSecrets) {
    if (!guide.includes(s)) problem(`overlay ${name}`, `Secret ${s} is created outside the overlay, but docs/KUBERNETES.md does not say how`);
    else note(`overlay ${name}: Secret ${s} must exist before apply (docs/KUBERNETES.md)`);
  }
}
checkDockerfile();
checkCompose();
checkDashboard();

for (const n of notes) console.log(`note: ${n}`);
if (problems.length) {
  for (const p of problems) console.log(`FAIL ${p}`);
  console.log(`${problems.length} problem(s)`);
  process.exit(1);
}
console.log('k8s manifests, Dockerfile, compose file and dashboard: ok');
