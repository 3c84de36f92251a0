// Generates the SDK's API reference (Markdown) from the JSDoc in index.js:
//   node scripts/docs.mjs            writes ../../docs/sdk/README.md
//   node scripts/docs.mjs --check    exits 1 when that file is not what the JSDoc gives
// The output has no timestamp, so that --check (run by the tests) is deterministic.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const source = readFileSync(path.join(here, '..', 'index.js'), 'utf8');
const outFile = path.resolve(here, '../../../docs/sdk/README.md');
// Where route anchors live: docs/openapi.yaml's operationIds are the HTTP API's route anchors
// (#route-{METHOD}-v1-…, seed 000).
const routeDoc = '../openapi.yaml';

/** The JSDoc blocks of the file, each with the code line that follows it. */
function blocks() {
  const out = [];
  const re = /\/\*\*([\s\S]*?)\*\/(?=\s*\n\s*([^\n]*))/g;
  for (let m; (m = re.exec(source)); ) {
    const lines = m[1].split('\n').map((l) => l.replace(/^\s*\* ?/, '').trimEnd());
    out.push({ lines, code: m[2].trim() });
  }
  return out;
}

/** Splits a block into its description and its tags ({tag, type, name, text}). */
function parse(lines) {
  const description = [];
  const tags = [];
  for (const line of lines) {
    const tag = /^@(\w+)\s*(?:\{([^}]*)\})?\s*(.*)$/.exec(line.trim());
    if (tag) {
      const [, name, type, rest] = tag;
      const m = /^(\[?[\w.]+\]?)\s*(.*)$/.exec(rest);
      const hasName = ['param', 'property', 'typedef'].includes(name);
      tags.push({
        tag: name,
        type: type || '',
        name: hasName && m ? m[1] : '',
        text: hasName && m ? m[2] : rest,
      });
    } else if (tags.length > 0 && line.trim() !== '') {
      tags[tags.length - 1].text += ` ${line.trim()}`;
    } else {
      description.push(line);
    }
  }
  return { description: description.join('\n').trim(), tags };
}

const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\{@link ([^}#]+)#?([^}]*)\}/g, (_, a, b) => `\`${b || a}\``);
const text = (s) => s.replace(/\{@link ([^}#]+)#?([^}]*)\}/g, (_, a, b) => `\`${b || a}\``);

/** "HTTP: GET /v1/pipes/:pipe_id" → a link to the route's anchor. */
function httpLine(description) {
  const m = /HTTP: (GET|POST|PUT|PATCH|DELETE) (\/\S+)/.exec(description);
  if (!m) return { rest: description, http: null };
  const [, method, route] = m;
  const anchor = `route-${method}-${route.replace(/^\//, '').replace(/:/g, '').replace(/\//g, '-')}`;
  return {
    rest: description.replace(m[0], '').replace(/\n{2,}/g, '\n').trim(),
    http: `[${method} ${route}](${routeDoc}#${anchor})`,
    anchor,
  };
}

function paramTable(params) {
  if (params.length === 0) return '';
  const rows = params.map((p) => {
    const optional = p.name.startsWith('[');
    const name = p.name.replace(/[[\]]/g, '');
    return `| \`${name}\` | \`${cell(p.type)}\`${optional ? ' (optional)' : ''} | ${cell(p.text)} |`;
  });
  return `| parameter | type | description |\n| --- | --- | --- |\n${rows.join('\n')}\n`;
}

function propertyTable(props) {
  const rows = props.map((p) => {
    const optional = p.name.startsWith('[');
    const name = p.name.replace(/[[\]]/g, '');
    return `| \`${name}\` | \`${cell(p.type)}\`${optional ? ' (optional)' : ''} | ${cell(p.text)} |`;
  });
  return `| property | type | description |\n| --- | --- | --- |\n${rows.join('\n')}\n`;
}

const all = blocks().map((b) => ({ ...b, ...parse(b.lines) }));
const typedefs = all.filter((b) => b.tags.some((t) => t.tag === 'typedef'));
const methods = all
  .filter((b) => /^[a-z][a-z_]*\(/.test(b.code) && !b.code.startsWith('constructor(') && !b.tags.some((t) => t.tag === 'private'))
  .map((b) => ({ ...b, name: /^([a-z_]+)\(/.exec(b.code)[1] }))
  .sort((a, b) => a.name.localeCompare(b.name));
const factory = all.find((b) => b.code.startsWith('export function create_batchpipe_client'));
const clientClass = all.find((b) => b.code.startsWith('export class BatchPipeClient'));
const errorClass = all.find((b) => b.code.startsWith('export class BatchPipeError'));

let md = `# JavaScript SDK — API reference

Generated from the JSDoc in [\`sdk/js/index.js\`](../../sdk/js/index.js) by \`npm run docs\` (in
\`sdk/js\`); do not edit by hand. How to install and use it: [sdk/js/README.md](../../sdk/js/README.md).
For status codes and bodies, see the HTTP API: [docs/openapi.yaml](${routeDoc}), whose
\`operationId\`s are the route anchors (\`#route-{METHOD}-v1-…\`) each method links below.

## Overview

Every method resolves to \`{ status, ok, data }\` with the parsed JSON in \`data\` (\`null\` for an
empty body) and never throws for an HTTP error status (\`ok\` is then \`false\`). A request that
gets no HTTP answer (connection refused, DNS, TLS, timeout) rejects with a \`BatchPipeError\`.
Management calls need a workspace API key in the client's options; \`ingest\` can take one per
call.

## create_batchpipe_client (module export)

${text(factory.description)}

${paramTable(factory.tags.filter((t) => t.tag === 'param'))}
Returns \`BatchPipeClient\`. Also the module's default export.

`;

for (const t of typedefs) {
  const def = t.tags.find((x) => x.tag === 'typedef');
  md += `## ${def.name}\n\n${text(t.description)}\n\n${propertyTable(t.tags.filter((x) => x.tag === 'property'))}\n`;
}

md += `## BatchPipeClient constructor

${text(clientClass.description)}

| parameter | type | description |
| --- | --- | --- |
| \`options\` | \`BatchPipeClientOptions\` | \`base_url\` is required: a \`TypeError\` is thrown without it |

## BatchPipeError

${text(errorClass.description)} Its \`method\` and \`url\` name the request; \`cause\` is the
underlying error of \`fetch\`.

## Instance methods

Each block is a method of \`BatchPipeClient\`: \`await client.method_name(…)\` with the parameters
in the order of the table. The HTTP line links the underlying route.

`;

for (const m of methods) {
  const { rest, http } = httpLine(m.description);
  const returns = m.tags.find((t) => t.tag === 'returns');
  md += `### ${m.name}\n\n${text(rest)}\n\nHTTP: ${http ?? '(none)'}\n\n`;
  md += paramTable(m.tags.filter((t) => t.tag === 'param'));
  md += `\nReturns \`${returns ? returns.type : 'void'}\`\n\n`;
}

md = `${md.replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(outFile, 'utf8');
  } catch {
    // missing: reported below
  }
  if (current !== md) {
    console.error(`${path.relative(process.cwd(), outFile)} is out of date: run \`npm run docs\` in sdk/js`);
    process.exit(1);
  }
  console.log('docs/sdk/README.md is up to date');
} else {
  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(outFile, md);
  console.log(`wrote ${path.relative(process.cwd(), outFile)} (${methods.length} methods)`);
}

export { methods };
