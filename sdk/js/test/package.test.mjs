// The package as users get it: `npm pack` makes a tarball that installs offline into an empty
// project and imports; the declarations compile against a typical use; the generated reference
// in docs/sdk/ matches the JSDoc, and every route anchor it links exists in docs/openapi.yaml.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repoDir = path.resolve(pkgDir, '../..');

test('npm pack produces a tarball that installs and imports', async () => {
  const work = await mkdtemp(path.join(os.tmpdir(), 'bp-sdk-pack-'));
  try {
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: pkgDir });
    const [info] = JSON.parse(stdout);
    const files = info.files.map((f) => f.path).sort();
    assert.deepEqual(files, ['README.md', 'index.d.ts', 'index.js', 'package.json']);
    const app = path.join(work, 'app');
    await run('mkdir', ['-p', app]);
    await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module' }));
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', path.join(work, info.filename)], { cwd: app });
    const script =
      "import create, { create_batchpipe_client, BatchPipeClient, BatchPipeError } from 'batchpipe-sdk';" +
      "const c = create_batchpipe_client({ base_url: 'http://example.invalid' });" +
      "console.log(JSON.stringify([typeof create, c instanceof BatchPipeClient, typeof BatchPipeError, typeof c.ingest]));";
    const out = await run('node', ['--input-type=module', '-e', script], { cwd: app });
    assert.deepEqual(JSON.parse(out.stdout), ['function', true, 'function', 'function']);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test('index.d.ts compiles against a typical use (tsc --strict)', async () => {
  const work = await mkdtemp(path.join(pkgDir, '.types-'));
  try {
    await writeFile(
      path.join(work, 'use.ts'),
      `import create_batchpipe_client, { BatchPipeClient, BatchPipeError, type BatchPipeResponse } from '../index.js';
const client: BatchPipeClient = create_batchpipe_client({ base_url: 'https://api.example.com', api_key: 'bp_v1_x' });
async function main(): Promise<void> {
  const res: BatchPipeResponse = await client.ingest('id', [{ event: 'signup' }], { origin: 'https://a.example', api_key: null });
  if (res.ok && 'records_count' in res.data) console.log(res.data.records_count.toFixed(0));
  await client.set_destination_status('p', 'd', { destination_status: 'blocked' });
  await client.list_pipes({ limit: 10, cursor: null });
  try { await client.health(); } catch (e) { if (e instanceof BatchPipeError) console.log(e.url); }
}
void main;
`,
    );
    const bad = `import { create_batchpipe_client } from '../index.js';
create_batchpipe_client({ base_url: 'x' }).ingest(42, {});
`;
    await writeFile(path.join(work, 'bad.ts'), bad);
    const tsc = path.join(pkgDir, 'node_modules', '.bin', 'tsc');
    const args = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022'];
    await run(tsc, [...args, path.join(work, 'use.ts')], { cwd: pkgDir });
    // And the declarations do catch a wrong call.
    await assert.rejects(run(tsc, [...args, path.join(work, 'bad.ts')], { cwd: pkgDir }), (err) => {
      assert.match(err.stdout, /bad\.ts.*not assignable to parameter of type 'string'/);
      return true;
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test('docs/sdk/README.md is what `npm run docs` generates', async () => {
  await run('node', [path.join(pkgDir, 'scripts', 'docs.mjs'), '--check'], { cwd: pkgDir });
});

test('every method is documented with a route anchor that docs/openapi.yaml defines', async () => {
  const reference = await readFile(path.join(repoDir, 'docs', 'sdk', 'README.md'), 'utf8');
  const openapi = await readFile(path.join(repoDir, 'docs', 'openapi.yaml'), 'utf8');
  const { BatchPipeClient } = await import('../index.js');
  const methods = Object.getOwnPropertyNames(BatchPipeClient.prototype).filter((m) => m !== 'constructor' && !m.startsWith('_'));
  assert.ok(methods.length >= 22);
  for (const m of methods) {
    const section = reference.split(`\n### ${m}\n`)[1];
    assert.ok(section, `${m} is documented`);
    const anchor = /\(\.\.\/openapi\.yaml#(route-[A-Za-z0-9_-]+)\)/.exec(section.split('\n### ')[0])?.[1];
    assert.ok(anchor, `${m} links a route`);
    assert.ok(openapi.includes(`operationId: ${anchor}\n`), `${anchor} is an operationId of docs/openapi.yaml`);
  }
});
