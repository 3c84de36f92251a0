// docs/openapi.yaml itself: it exists, parses, documents every route of seed 000 with the
// statuses the contract promises, every schema compiles, and its examples match its schemas.
// (Real responses are validated against it by lib/api.mjs in every other test file.)
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { OpenApi, openapiPath } from './lib/openapi.mjs';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

// Seed 000's routes (":x" parameters written "{x}") and the statuses it promises for each.
const AUTH = ['401'];
const ROUTES = [
  ['GET', '/v1/health', ['200']],
  ['POST', '/v1/ingest/{pipe_id}', ['202', '400', '401', '403', '404', '413', '415', '500', '503']],
  ['GET', '/v1/ingest/{pipe_id}', ['200', '400', '404', '500']],
  ['OPTIONS', '/v1/ingest/{pipe_id}', ['204', '400', '403']],
  ['GET', '/v1/pipes', ['200', '400', ...AUTH]],
  ['POST', '/v1/pipes', ['201', '400', '415', ...AUTH]],
  ['GET', '/v1/pipes/{pipe_id}', ['200', '404', ...AUTH]],
  ['PATCH', '/v1/pipes/{pipe_id}', ['200', '400', '404', '415', ...AUTH]],
  ['DELETE', '/v1/pipes/{pipe_id}', ['204', '404', ...AUTH]],
  ['POST', '/v1/pipes/{pipe_id}/destinations', ['201', '400', '404', '415', ...AUTH]],
  ['PATCH', '/v1/pipes/{pipe_id}/destinations/{destination_id}', ['200', '400', '404', '415', ...AUTH]],
  ['PATCH', '/v1/pipes/{pipe_id}/destinations/{destination_id}/status', ['200', '400', '404', '415', ...AUTH]],
  ['DELETE', '/v1/pipes/{pipe_id}/destinations/{destination_id}', ['204', '404', ...AUTH]],
  ['PUT', '/v1/pipes/{pipe_id}/limits', ['200', '400', '404', '415', ...AUTH]],
  ['POST', '/v1/pipes/{pipe_id}/allowed-origins', ['201', '400', '404', '415', ...AUTH]],
  ['DELETE', '/v1/pipes/{pipe_id}/allowed-origins/{origin_id}', ['204', '404', ...AUTH]],
  ['GET', '/v1/pipes/{pipe_id}/runs', ['200', '400', '404', ...AUTH]],
  ['GET', '/v1/api-keys', ['200', '400', ...AUTH]],
  ['POST', '/v1/api-keys', ['201', '400', '415', ...AUTH]],
  ['DELETE', '/v1/api-keys/{api_key_id}', ['204', '404', '409', ...AUTH]],
];

const present = existsSync(openapiPath);

describe('docs/openapi.yaml', () => {
  test('exists and is an OpenAPI 3 document', () => {
    assert.ok(present, `${openapiPath} is missing: the project publishes its OpenAPI document there`);
    const spec = new OpenApi(readFileSync(openapiPath, 'utf8'));
    assert.match(spec.version, /^3\.[01]\./);
  });

  describe('content', { skip: !present && 'no document' }, () => {
    const spec = present ? new OpenApi(readFileSync(openapiPath, 'utf8')) : null;

    test('documents every route of seed 000 with the promised statuses', () => {
      const problems = [];
      for (const [method, template, statuses] of ROUTES) {
        const item = spec.doc.paths[template];
        const op = item?.[method.toLowerCase()];
        if (!op) {
          problems.push(`${method} ${template} is not documented`);
          continue;
        }
        const missing = statuses.filter((s) => !(s in (op.responses || {})) && !(`${s[0]}XX` in op.responses));
        if (missing.length) problems.push(`${method} ${template} does not document ${missing.join(', ')}`);
      }
      assert.deepEqual(problems, []);
    });

    test('operationIds are the route anchors of seed 000 (route-{METHOD}-v1-…)', () => {
      const problems = [];
      for (const { method, template } of spec.operations()) {
        const op = spec.doc.paths[template][method.toLowerCase()];
        const anchor = `route-${method}${template.replace(/[{}]/g, '').replace(/\//g, '-')}`;
        if (op.operationId !== anchor) problems.push(`${method} ${template}: operationId ${op.operationId}, anchor ${anchor}`);
      }
      assert.deepEqual(problems, []);
    });

    test('management operations require the bearer key; health and ingest do not', () => {
      const problems = [];
      for (const { method, template } of spec.operations()) {
        const op = spec.doc.paths[template][method.toLowerCase()];
        const security = op.security ?? spec.doc.security ?? [];
        const open = security.length === 0 || security.some((req) => Object.keys(req).length === 0);
        const management = /^\/v1\/(pipes|api-keys)/.test(template);
        if (management && open) problems.push(`${method} ${template} is documented without authentication`);
        if (!management && template.startsWith('/v1/') && !open) {
          problems.push(`${method} ${template} is documented as needing a key always`);
        }
      }
      assert.deepEqual(problems, []);
    });

    test('every error response body is {error, message}', () => {
      const error = spec.doc.components?.schemas?.Error;
      assert.ok(error, 'components.schemas.Error exists');
      assert.deepEqual([...(error.required || [])].sort(), ['error', 'message']);
    });

    test('every schema compiles and every $ref resolves', () => {
      const problems = [];
      for (const { method, template } of spec.operations()) {
        const op = spec.doc.paths[template][method.toLowerCase()];
        for (const status of Object.keys(op.responses || {})) {
          const base = `#/paths/${template.replace(/~/g, '~0').replace(/\//g, '~1')}/${method.toLowerCase()}/responses/${status}`;
          try {
            let response = op.responses[status];
            let pointer = base;
            while (response.$ref) {
              pointer = response.$ref;
              response = resolveRef(spec.doc, response.$ref);
            }
            for (const media of Object.keys(response.content || {})) {
              if (response.content[media].schema) spec.validator(`${pointer}/content/${escape(media)}/schema`);
            }
          } catch (err) {
            problems.push(`${method} ${template} ${status}: ${err.message}`);
          }
        }
      }
      assert.deepEqual(problems, []);
    });

    test('the examples match their schemas', () => {
      const problems = [];
      walkMedia(spec.doc, '#', (media, pointer) => {
        if (!media.schema) return;
        const examples = [];
        if ('example' in media) examples.push(['example', media.example]);
        for (const [name, ex] of Object.entries(media.examples || {})) {
          const value = ex.$ref ? resolveRef(spec.doc, ex.$ref).value : ex.value;
          if (value !== undefined) examples.push([name, value]);
        }
        const validate = spec.validator(`${pointer}/schema`);
        for (const [name, value] of examples) {
          if (!validate(value)) {
            problems.push(`${pointer} example "${name}": ${validate.errors.map((e) => `${e.instancePath} ${e.message}`).join('; ')}`);
          }
        }
      });
      assert.deepEqual(problems, []);
    });
  });
});

const escape = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');

function resolveRef(doc, ref) {
  return ref
    .slice(2)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((node, key) => node[key], doc);
}

/** Calls fn(mediaTypeObject, pointer) for every request and response media type in the document. */
function walkMedia(doc, _root, fn) {
  const visit = (content, pointer) => {
    for (const [type, media] of Object.entries(content || {})) fn(media, `${pointer}/content/${escape(type)}`);
  };
  for (const [template, item] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const base = `#/paths/${escape(template)}/${method}`;
      if (op.requestBody && !op.requestBody.$ref) visit(op.requestBody.content, `${base}/requestBody`);
      for (const [status, response] of Object.entries(op.responses || {})) {
        if (!response.$ref) visit(response.content, `${base}/responses/${escape(status)}`);
      }
    }
  }
  for (const [name, response] of Object.entries(doc.components?.responses || {})) {
    visit(response.content, `#/components/responses/${escape(name)}`);
  }
  for (const [name, body] of Object.entries(doc.components?.requestBodies || {})) {
    visit(body.content, `#/components/requestBodies/${escape(name)}`);
  }
}
