import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsPlugin from 'ajv-formats';
import type Koa from 'koa';
import type Router from '@koa/router';
import { openApiDocument } from '../../api/openapi';
import type { Api, ApiResponse } from './platform';

// Checks real responses against the OpenAPI document the API serves: the operation must exist,
// the status must be documented for it, required headers present, and the JSON body valid
// against the documented schema (ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses).

type Json = Record<string, any>;
const addFormats = addFormatsPlugin as unknown as (ajv: Ajv2020) => Ajv2020;

/** Every method and path the app's Koa routers answer (HEAD comes with GET and is left out). */
export function routerRoutes(app: Koa): string[] {
  const routers = app.middleware.map((mw) => (mw as { router?: Router }).router).filter((r): r is Router => Boolean(r));
  const out = new Set<string>();
  for (const router of routers) {
    for (const layer of router.stack) {
      for (const method of layer.methods) if (method !== 'HEAD') out.add(`${method} ${layer.path}`);
    }
  }
  return [...out].sort();
}

/** Every operation in the document, as `METHOD /koa/:style`. */
export function documentedRoutes(doc: Json = openApiDocument()): string[] {
  return Object.entries(doc.paths as Record<string, Json>)
    .flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`))
    .sort();
}

export function responseChecker(doc: Json = openApiDocument()) {
  // strict: false because each compiled schema carries the document's `components` beside it,
  // so `#/components/schemas/…` refs resolve as they do in the document.
  const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
  const compiled = new Map<object, ValidateFunction>();
  const validatorFor = (schema: object) => {
    let v = compiled.get(schema);
    if (!v) compiled.set(schema, (v = ajv.compile({ ...schema, components: doc.components })));
    return v;
  };
  const templates = Object.keys(doc.paths).map((template) => ({
    template,
    regex: new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}$`),
    // Literal segments win over parameters (/agents/search before /agents/{id}).
    params: (template.match(/\{/g) ?? []).length,
  }));
  templates.sort((a, b) => a.params - b.params);

  /** Problems with one response; empty when it matches the document. */
  return function problems(method: string, url: string, res: Pick<ApiResponse, 'status' | 'body' | 'headers'>): string[] {
    const path = new URL(url, 'http://x').pathname;
    const match = templates.find((t) => t.regex.test(path));
    const op = match && doc.paths[match.template][method.toLowerCase()];
    if (!op) return [`${method} ${path}: no operation in the document`];
    const where = `${method} ${match!.template} → ${res.status}`;
    const documented = op.responses[String(res.status)];
    if (!documented) return [`${where}: status not documented (has ${Object.keys(op.responses).join(', ')})`];
    const out: string[] = [];
    for (const [name, h] of Object.entries((documented.headers ?? {}) as Record<string, Json>)) {
      if (h.required && !res.headers.get(name)) out.push(`${where}: required header ${name} missing`);
    }
    const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
    const content = documented.content as Json | undefined;
    if (!content) return out;
    if (!content[type]) return [...out, `${where}: content type ${type || '(none)'} not documented (has ${Object.keys(content).join(', ')})`];
    if (type !== 'application/json') return out;
    const validate = validatorFor(content[type].schema);
    if (!validate(res.body)) {
      out.push(`${where}: body does not match the schema: ${ajv.errorsText(validate.errors, { separator: '; ', dataVar: 'body' })}`);
    }
    return out;
  };
}

/**
 * An API client that records every response that does not match the document; `violations`
 * lists them (a test asserts it is empty at the end, so all are reported at once).
 */
export function checkedClient(api: Api, doc: Json = openApiDocument()) {
  const problems = responseChecker(doc);
  const violations: string[] = [];
  const seen = new Set<string>();
  const call = (async (method: string, path: string, opts?: Parameters<Api>[2]) => {
    const res = await api(method, path, opts);
    violations.push(...problems(method, path, res));
    seen.add(`${method} ${res.status}`);
    return res;
  }) as Api;
  /** Checks a response obtained another way (multipart uploads, raw fetches). */
  const check = (method: string, path: string, res: ApiResponse) => {
    violations.push(...problems(method, path, res));
    return res;
  };
  return { call, check, violations };
}
