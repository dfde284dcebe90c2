import Ajv2020 from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { createHash } from 'node:crypto';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { SchemaError, ValidationCheck } from '../domain/acceptance';

// JSON Schema for acceptance checks, with ajv (draft 2020-12): checking a schema a user sends
// when a contract is created, and checking a delivery's output against it (the sandbox worker).
//
// A schema is refused unless it is valid against the 2020-12 meta-schema and compiles under
// ajv's strict-schema rules: an unknown keyword (a typo such as "requried"), an unknown format
// or a $ref that does not resolve inside the schema is a 400 at creation, not a check that
// silently passes later. Nothing is ever fetched: a remote $ref does not resolve.
//
// This file is also the entry of the thread that checks outputs (lib/output-checks.ts), which
// Node loads as it is (type stripping): only `import type` from relative paths here.

/** At most this many of ajv's errors are kept, in a check and in a 400. */
const MAX_SCHEMA_ERRORS = 20;

function newAjv(): Ajv2020 {
  const ajv = new Ajv2020({
    allErrors: true,
    // A $ref is a call, not a copy of its target: inlined, a few KB of schema whose refs name a
    // large definition compile to megabytes of code (seconds to minutes, gigabytes of heap).
    inlineRefs: false,
    strictSchema: true,
    strictNumbers: true,
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
    validateFormats: true,
    logger: false,
  });
  addFormats(ajv);
  return ajv;
}

export interface SchemaProblem {
  /** Where in the schema (a JSON Pointer; '' is the schema itself). */
  path: string;
  message: string;
}

// One instance checks schemas (its meta-schemas compiled once; a fresh one costs ~50 ms); a
// schema compiled to try it is removed again, and after any failure the instance is replaced,
// so nothing a user sent stays in it.
let checker: Ajv2020 | null = null;

const DRAFT_2020_12 = 'https://json-schema.org/draft/2020-12/schema';

/** Why a schema cannot be used, or null when it can. */
export function schemaProblems(schema: unknown): SchemaProblem[] | null {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return [{ path: '', message: 'must be a JSON Schema object' }];
  const declared = (schema as Record<string, unknown>).$schema;
  if (declared !== undefined && declared !== DRAFT_2020_12 && declared !== `${DRAFT_2020_12}#`) {
    return [{ path: '/$schema', message: `only JSON Schema draft 2020-12 is supported: leave $schema out or set it to ${DRAFT_2020_12}` }];
  }
  const ajv = (checker ??= newAjv());
  try {
    if (!(ajv.validateSchema(schema) as boolean)) {
      return (ajv.errors ?? []).slice(0, MAX_SCHEMA_ERRORS).map((e) => ({ path: e.instancePath, message: describe(e) }));
    }
    ajv.compile(schema);
    ajv.removeSchema(schema);
    return null;
  } catch (err) {
    checker = null;
    return [{ path: '', message: compileProblem(err instanceof Error ? err.message : String(err)) }];
  }
}

// ajv words a refused format as a warning ("… ignored"); here it refuses the schema.
function compileProblem(message: string): string {
  const format = /^unknown format "(.*)" ignored in schema at path "(.*)"$/.exec(message);
  if (format) return `unknown format "${format[1]}" at ${format[2]}: the known formats are those of ajv-formats (date, date-time, time, duration, email, hostname, ipv4, ipv6, uri, uri-reference, uuid, regex, …)`;
  return message;
}

function describe(e: ErrorObject): string {
  const params = e.params as Record<string, unknown>;
  if (e.keyword === 'enum' && Array.isArray(params.allowedValues)) return `${e.message}: ${params.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  if (e.keyword === 'additionalProperties' && params.additionalProperty) return `${e.message}: ${String(params.additionalProperty)}`;
  if (e.keyword === 'required' && params.missingProperty) return `must have property ${String(params.missingProperty)}`;
  return e.message ?? e.keyword;
}

const COMPILED_CACHE = 256;

/** Checks outputs against schemas; compiled schemas are kept by content (least recently used go). */
export function createOutputChecker() {
  const compiled = new Map<string, ValidateFunction>();
  let ajv: Ajv2020 | null = null;
  function validatorFor(schema: Record<string, unknown>): ValidateFunction {
    const key = createHash('sha256').update(JSON.stringify(schema)).digest('hex');
    let fn = compiled.get(key);
    if (fn) {
      compiled.delete(key);
    } else {
      // As in schemaProblems: the instance keeps nothing; the compiled function is ours to keep.
      const instance = (ajv ??= newAjv());
      try {
        fn = instance.compile(schema);
        instance.removeSchema(schema);
      } catch (err) {
        ajv = null;
        throw err;
      }
      if (compiled.size >= COMPILED_CACHE) compiled.delete(compiled.keys().next().value!);
    }
    compiled.set(key, fn);
    return fn;
  }

  return {
    /** The output_schema check of one output. A schema that no longer compiles is an error, not the agent's fault. */
    check(schema: Record<string, unknown>, output: unknown): ValidationCheck {
      let fn: ValidateFunction;
      try {
        fn = validatorFor(schema);
      } catch (err) {
        return { name: 'output_schema', status: 'error', message: `the schema could not be compiled: ${err instanceof Error ? err.message : String(err)}` };
      }
      if (fn(output)) return { name: 'output_schema', status: 'passed', message: 'the output matches the schema' };
      const all = fn.errors ?? [];
      const errors: SchemaError[] = all.slice(0, MAX_SCHEMA_ERRORS).map((e) => ({
        instance_path: e.instancePath,
        schema_path: e.schemaPath,
        keyword: e.keyword,
        message: describe(e),
      }));
      const first = errors[0];
      const where = first ? `${first.instance_path || 'the output'} ${first.message}` : 'the output does not match';
      const more = all.length > 1 ? ` (and ${all.length - 1} more)` : '';
      return { name: 'output_schema', status: 'failed', message: `the output does not match the schema: ${where}${more}`, errors };
    },
  };
}

/** workerData that makes this module the output-check thread. */
export const OUTPUT_CHECK_THREAD = 'hermes-output-check';

if (!isMainThread && workerData === OUTPUT_CHECK_THREAD && parentPort) {
  const port = parentPort;
  const checker = createOutputChecker();
  port.on('message', (m: { id: number; schema: Record<string, unknown>; output: unknown; problemsOnly?: boolean }) => {
    port.postMessage(m.problemsOnly ? { id: m.id, problems: schemaProblems(m.schema) } : { id: m.id, check: checker.check(m.schema, m.output) });
  });
  port.postMessage('ready');
}
