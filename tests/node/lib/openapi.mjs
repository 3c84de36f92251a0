// Checks real responses against docs/openapi.yaml: finds the operation for a method and a
// concrete path, picks the documented response for the status, and validates the JSON body
// against its schema with Ajv. Works for OpenAPI 3.0 (nullable, boolean exclusive bounds)
// and 3.1 (JSON Schema 2020-12).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import YAML from 'yaml';
import { repoDir } from './stack.mjs';

export const openapiPath = process.env.BP_OPENAPI_PATH || path.join(repoDir, 'docs/openapi.yaml');

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const DOC_ID = 'bp-openapi.json';

/** Rewrites OpenAPI 3.0 schema dialect into plain JSON Schema (draft-07), in place. */
function normalize30(node) {
  if (Array.isArray(node)) return node.map(normalize30);
  if (!node || typeof node !== 'object') return node;
  for (const key of Object.keys(node)) node[key] = normalize30(node[key]);
  for (const [bound, limit] of [
    ['exclusiveMinimum', 'minimum'],
    ['exclusiveMaximum', 'maximum'],
  ]) {
    if (node[bound] === true && typeof node[limit] === 'number') {
      node[bound] = node[limit];
      delete node[limit];
    } else if (node[bound] === false) {
      delete node[bound];
    }
  }
  if (node.nullable === true) {
    delete node.nullable;
    if (typeof node.type === 'string') {
      node.type = [node.type, 'null'];
      if (Array.isArray(node.enum) && !node.enum.includes(null)) node.enum.push(null);
    } else if (!node.type) {
      const copy = { ...node };
      for (const key of Object.keys(node)) delete node[key];
      node.anyOf = [copy, { type: 'null' }];
    }
  } else if (node.nullable === false) {
    delete node.nullable;
  }
  return node;
}

function collectFormats(node, out = new Set()) {
  if (Array.isArray(node)) node.forEach((n) => collectFormats(n, out));
  else if (node && typeof node === 'object') {
    if (typeof node.format === 'string' && typeof node.type !== 'undefined') out.add(node.format);
    Object.values(node).forEach((n) => collectFormats(n, out));
  }
  return out;
}

const escapePointer = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');

function resolvePointer(doc, ref) {
  if (!ref.startsWith('#/')) throw new Error(`only local $ref are supported, got ${ref}`);
  return ref
    .slice(2)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((node, key) => {
      if (node === undefined || !(key in node)) throw new Error(`unresolvable $ref ${ref}`);
      return node[key];
    }, doc);
}

export class OpenApi {
  constructor(text) {
    const doc = YAML.parse(text);
    if (!doc || typeof doc.openapi !== 'string' || !doc.paths) {
      throw new Error('not an OpenAPI 3 document (no "openapi" version or no "paths")');
    }
    this.version = doc.openapi;
    const is31 = /^3\.1\./.test(doc.openapi);
    this.doc = is31 ? doc : normalize30(structuredClone(doc));
    const AjvClass = is31 ? Ajv2020 : Ajv;
    this.ajv = new AjvClass({ strict: false, allErrors: true, validateSchema: false, discriminator: true });
    addFormats(this.ajv);
    for (const format of collectFormats(this.doc)) {
      if (!this.ajv.formats[format]) this.ajv.addFormat(format, true);
    }
    this.ajv.addSchema({ ...this.doc, $id: DOC_ID });
    this.validators = new Map();
    const base = doc.servers?.[0]?.url ? new URL(doc.servers[0].url, 'http://x').pathname.replace(/\/$/, '') : '';
    this.basePath = base;
    this.routes = [];
    for (const [template, item] of Object.entries(this.doc.paths)) {
      const params = (template.match(/\{[^}]+\}/g) || []).length;
      const regex = new RegExp(
        `^${(base + template).replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+')}$`,
      );
      this.routes.push({ template, item, regex, params });
    }
    // Literal segments win over parameters: /v1/pipes/{id}/runs before /v1/pipes/{id}/{x}.
    this.routes.sort((a, b) => a.params - b.params);
  }

  static loadIfPresent() {
    if (!existsSync(openapiPath)) return null;
    return new OpenApi(readFileSync(openapiPath, 'utf8'));
  }

  /** { template, operation } for a concrete path, or null. */
  findOperation(method, concretePath) {
    const m = method.toLowerCase();
    const route = this.routes.find((r) => r.regex.test(concretePath));
    if (!route) return null;
    let item = route.item;
    if (item.$ref) item = resolvePointer(this.doc, item.$ref);
    const operation = item[m];
    if (!operation) return { template: route.template, operation: null, methods: METHODS.filter((x) => item[x]) };
    return { template: route.template, operation };
  }

  operations() {
    const out = [];
    for (const route of this.routes) {
      const item = route.item.$ref ? resolvePointer(this.doc, route.item.$ref) : route.item;
      for (const m of METHODS) if (item[m]) out.push({ method: m.toUpperCase(), template: route.template, path: this.basePath + route.template });
    }
    return out;
  }

  /**
   * Problems (strings) with one response; [] when it conforms. `body` is the parsed JSON or
   * null; `text` is the raw body; `headers` a fetch Headers object.
   */
  check({ method, path: concretePath, status, contentType, body, text, headers }) {
    const found = this.findOperation(method, concretePath);
    const where = `${method.toUpperCase()} ${concretePath}`;
    if (!found) return [`${where}: no path in the OpenAPI document matches`];
    if (!found.operation) return [`${where}: ${found.template} documents no ${method.toUpperCase()} operation`];
    const label = `${method.toUpperCase()} ${found.template} → ${status}`;
    const responses = found.operation.responses || {};
    const key = [String(status), `${String(status)[0]}XX`, `${String(status)[0]}xx`, 'default'].find((k) => k in responses);
    if (!key) return [`${label}: status not documented (documented: ${Object.keys(responses).join(', ')})`];
    const pointer = `#/paths/${escapePointer(found.template)}/${method.toLowerCase()}/responses/${escapePointer(key)}`;
    return this.checkResponse(label, pointer, { status, contentType, body, text, headers });
  }

  /**
   * Problems with a request body that the server accepted (2xx): the document's requestBody
   * schema must accept it too. [] when the operation documents no JSON request body.
   */
  checkAcceptedRequest({ method, path: concretePath, requestBody }) {
    const found = this.findOperation(method, concretePath);
    if (!found?.operation?.requestBody) return [];
    let pointer = `#/paths/${escapePointer(found.template)}/${method.toLowerCase()}/requestBody`;
    let requestBodyObject = found.operation.requestBody;
    while (requestBodyObject.$ref) {
      pointer = requestBodyObject.$ref;
      requestBodyObject = resolvePointer(this.doc, pointer);
    }
    const media = Object.keys(requestBodyObject.content || {}).find((t) => /json/.test(t));
    if (!media || !requestBodyObject.content[media].schema) return [];
    const validate = this.validator(`${pointer}/content/${escapePointer(media)}/schema`);
    if (validate(requestBody)) return [];
    const label = `${method.toUpperCase()} ${found.template}`;
    return validate.errors.map(
      (e) => `${label}: the server accepted a request body that the document rejects: body${e.instancePath || ''} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`,
    );
  }

  /** Checks a response against a reusable response object, #/components/responses/<name>. */
  checkComponent(name, { status, contentType, body, text, headers }) {
    if (!this.doc.components?.responses?.[name]) return [`#/components/responses/${name} is not in the document`];
    return this.checkResponse(`${name} → ${status}`, `#/components/responses/${escapePointer(name)}`, {
      status,
      contentType,
      body,
      text,
      headers,
    });
  }

  checkResponse(label, pointer, { status, contentType, body, text, headers }) {
    let responsePointer = pointer;
    let response = resolvePointer(this.doc, pointer);
    while (response && response.$ref) {
      responsePointer = response.$ref;
      response = resolvePointer(this.doc, response.$ref);
    }
    const problems = headers ? this.checkHeaders(label, response, headers) : [];
    const content = response?.content || {};
    const mediaTypes = Object.keys(content);
    const hasBody = text.length > 0;
    if (!hasBody) {
      if (mediaTypes.length > 0 && !(status === 204 || status === 304)) {
        problems.push(`${label}: the document describes a body (${mediaTypes.join(', ')}) but the response has none`);
      }
      return problems;
    }
    if (mediaTypes.length === 0) return [...problems, `${label}: the response has a body but the document describes none`];
    const essence = (contentType || '').split(';')[0].trim().toLowerCase();
    const media =
      mediaTypes.find((t) => t.toLowerCase() === essence) ||
      mediaTypes.find((t) => t.endsWith('/*') && essence.startsWith(t.slice(0, -1))) ||
      mediaTypes.find((t) => t === '*/*');
    if (!media) {
      return [...problems, `${label}: Content-Type ${contentType} not documented (documented: ${mediaTypes.join(', ')})`];
    }
    if (!content[media].schema) return problems;
    const isJson = /json/.test(essence);
    if (isJson && body === null) return [...problems, `${label}: body is not valid JSON: ${text.slice(0, 200)}`];
    const validate = this.validator(`${responsePointer}/content/${escapePointer(media)}/schema`);
    if (!validate(isJson ? body : text)) {
      problems.push(
        ...validate.errors.map(
          (e) => `${label}: body${e.instancePath || ''} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`,
        ),
      );
    }
    return problems;
  }

  /** Documented headers: required ones must be present; present ones must match their schema. */
  checkHeaders(label, response, headers) {
    const problems = [];
    for (const [name, declared] of Object.entries(response?.headers || {})) {
      let header = declared;
      let pointer = null;
      while (header && header.$ref) {
        pointer = header.$ref;
        header = resolvePointer(this.doc, header.$ref);
      }
      const value = headers.get(name);
      if (headers.ignored?.has(name.toLowerCase())) continue;
      if (value === null) {
        if (header.required) problems.push(`${label}: required header ${name} is missing`);
        continue;
      }
      if (!header.schema || !pointer) continue;
      const validate = this.validator(`${pointer}/schema`);
      const types = [].concat(header.schema.type || []);
      const typed = types.includes('integer') || types.includes('number') ? Number(value) : value;
      if (!validate(typed)) {
        problems.push(...validate.errors.map((e) => `${label}: header ${name}: ${JSON.stringify(value)} ${e.message}`));
      }
    }
    return problems;
  }

  validator(pointer) {
    let validate = this.validators.get(pointer);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `${DOC_ID}${pointer}` });
      this.validators.set(pointer, validate);
    }
    return validate;
  }
}
