import { z } from 'zod';
import { IDEMPOTENCY_KEY_PATTERN } from './idempotency';
import * as res from './response-schemas';
import { startConversation, sendMessage, pageQuery } from './routes/a2a';
import { apiKeyParams, createAgent, listAgents, searchAgents, uploadFields } from './routes/agents';
import { login, register } from './routes/auth';
import { acceptBody, awardBody, bidBody, cancelBody, createContract, deliverBody, listContracts, rejectBody } from './routes/contract-schemas';
import { leaderboardQuery } from './routes/marketplace';
import { openQuery } from './routes/mesh';
import { addMethod, historyQuery } from './routes/payments';
import { putPreferences } from './routes/preferences';
import { createTask } from './routes/tasks';
import { listVerifiers, verifierUploadFields } from './routes/verifiers';
import { idempotencyKey as withdrawalKey, listQuery as walletPageQuery, withdrawBody } from './routes/wallet';
import { uuid } from './validate';

// The OpenAPI 3.1 document, built from the zod schemas the routes validate requests with and
// the response schemas in api/response-schemas.ts. Every route on the Koa routers has one
// entry in OPERATIONS; test/integration/openapi.test.ts fails when one is missing, and checks
// real responses against the document.

type Method = 'get' | 'post' | 'put' | 'delete';
/** Who may call: a user's JWT, an agent's API key, either, anyone, Stripe (signed body), or operators (metrics). */
type Caller = 'user' | 'agent' | 'user_or_agent' | 'public' | 'stripe' | 'operator';

interface Response {
  description: string;
  schema?: z.ZodType;
  /** Non-JSON content: media type → JSON Schema of the body. */
  content?: Record<string, object>;
  headers?: Record<string, { description: string; required?: boolean; schema?: object }>;
}

export interface Operation {
  method: Method;
  /** The Koa pattern, from the root: /api/v1/contracts/:id. */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  caller: Caller;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** multipart/form-data fields (the file part is added by `file`). */
  multipart?: { fields: z.ZodObject; file: string };
  /** Idempotency-Key: 'optional' on retry-safe requests, 'required' where a key is mandatory. */
  idempotency?: 'optional' | 'required';
  /** Extra request headers, each required. */
  headers?: Record<string, { description: string; schema: object }>;
  responses: Record<number, Response>;
  /** Rate-limited (429)? Everything under /api/v1 but the webhook and the docs is. */
  limited?: boolean;
  /** Touches Postgres or Temporal, so may be 503. */
  backed?: boolean;
}

const V1 = '/api/v1';
const idParam = z.object({ id: uuid });
const retryAfter = { description: 'seconds to wait before sending the request again', required: true, schema: { type: 'integer', minimum: 0 } };
const replayed = { description: '`true` when this answer is the replay of an earlier request with the same Idempotency-Key', schema: { type: 'string', enum: ['true'] } };
const location = { description: 'the created resource', schema: { type: 'string' } };
const contractAnswer = (what: string): Response => ({ description: `${what}; the contract as GET /contracts/{id} shows it, as of the change`, schema: res.contractDetailSchema, headers: { 'Idempotent-Replayed': replayed } });

const errorResponseOf = (description: string): Response => ({ description, schema: res.errorEnvelope });

const drive = (action: string, summary: string, body?: z.ZodType, description?: string): Operation => ({
  method: 'post',
  path: `${V1}/contracts/:id/${action}`,
  summary,
  description,
  tag: 'contracts',
  caller: 'user',
  params: idParam,
  body,
  idempotency: 'optional',
  responses: { 200: contractAnswer('done') },
});

export const OPERATIONS: Operation[] = [
  // ---- health (root, not under /api/v1) ----
  { method: 'get', path: '/health', summary: 'Liveness: the process is up', tag: 'health', caller: 'public', limited: false, backed: false, responses: { 200: { description: 'up', schema: res.healthResponse } } },
  {
    method: 'get',
    path: '/ready',
    summary: 'Readiness: Postgres, Redis and Temporal answer',
    tag: 'health',
    caller: 'public',
    limited: false,
    backed: false,
    responses: {
      200: { description: 'ready', schema: res.readinessResponse },
      503: { description: 'a dependency does not answer; `checks` says which', schema: res.readinessResponse },
    },
  },

  {
    method: 'get',
    path: '/metrics',
    summary: "This API process's metrics, for Prometheus",
    description: 'With METRICS_TOKEN set, send it as a bearer token; without one, only clients on the same machine get them, and never in production.',
    tag: 'health',
    caller: 'operator',
    limited: false,
    backed: false,
    responses: {
      200: { description: 'the Prometheus text format', content: { 'text/plain': { type: 'string' } } },
      401: errorResponseOf('UNAUTHENTICATED: send the metrics token'),
      403: errorResponseOf('FORBIDDEN: not from this machine, or production without METRICS_TOKEN'),
    },
  },

  // ---- this document and its docs page ----
  { method: 'get', path: `${V1}/openapi.json`, summary: 'This OpenAPI 3.1 document', tag: 'docs', caller: 'public', limited: false, backed: false, responses: { 200: { description: 'the document', content: { 'application/json': { type: 'object' } } } } },
  { method: 'get', path: `${V1}/docs`, summary: 'Human-readable API docs (Swagger UI)', tag: 'docs', caller: 'public', limited: false, backed: false, responses: { 200: { description: 'an HTML page', content: { 'text/html': { type: 'string' } } } } },
  {
    method: 'get',
    path: `${V1}/docs/:asset`,
    summary: "The docs page's scripts and styles, served from the swagger-ui-dist package",
    tag: 'docs',
    caller: 'public',
    limited: false,
    backed: false,
    params: z.object({ asset: z.string() }),
    responses: {
      200: { description: 'the file', content: { 'text/css': { type: 'string' }, 'text/javascript': { type: 'string' }, 'image/png': { type: 'string', contentMediaType: 'image/png' } } },
      404: { description: 'no such file', schema: res.errorEnvelope },
    },
  },

  // ---- auth ----
  {
    method: 'post', path: `${V1}/auth/register`, summary: 'Create an account; answers a JWT', tag: 'auth', caller: 'public', body: register,
    responses: { 201: { description: 'registered', schema: res.registerResponse }, 409: { description: 'EMAIL_TAKEN', schema: res.errorEnvelope } },
  },
  {
    method: 'post', path: `${V1}/auth/login`, summary: 'Log in; answers a new JWT', tag: 'auth', caller: 'public', body: login,
    responses: { 200: { description: 'a token', schema: res.tokenResponse }, 401: { description: 'INVALID_CREDENTIALS', schema: res.errorEnvelope } },
  },

  // ---- agents ----
  {
    method: 'post', path: `${V1}/agents`, summary: 'Register an agent; its API key is in this response only', tag: 'agents', caller: 'user', body: createAgent, idempotency: 'optional',
    responses: { 201: { description: 'registered', schema: res.agentCreatedResponse, headers: { 'Idempotent-Replayed': replayed } } },
  },
  {
    method: 'post',
    path: `${V1}/agents/upload`,
    summary: 'Upload a WASM binary: a new agent, or with agent_id a new version of one you own',
    description: 'The module is compiled before anything is stored; one that does not compile, or is not a WASI command (`_start` of type () -> () and an exported `memory`), is 400 INVALID_MODULE; one whose compile goes past the time or memory bound (SANDBOX_COMPILE_TIMEOUT_SECONDS, SANDBOX_COMPILE_MEMORY_MB) is 413 MODULE_TOO_COMPLEX; when every compile slot and queue place is taken it is 503 with Retry-After. `capabilities` is a comma-separated list or a JSON array.',
    tag: 'agents',
    caller: 'user',
    multipart: { fields: uploadFields, file: 'the .wasm module (a WASI command)' },
    idempotency: 'optional',
    responses: {
      200: { description: 'a new version of an existing agent', schema: res.agentUploadResponse, headers: { 'Idempotent-Replayed': replayed } },
      201: { description: 'a new agent, with its API key', schema: res.agentUploadResponse, headers: { 'Idempotent-Replayed': replayed } },
      413: { description: 'PAYLOAD_TOO_LARGE (over SANDBOX_MAX_UPLOAD_BYTES) or MODULE_TOO_COMPLEX (its compile went past the time or memory bound); `details` names the field', schema: res.errorEnvelope },
      503: { description: 'UNAVAILABLE: every module compiler is busy, or Temporal or Postgres cannot answer now; retry after Retry-After (with the same Idempotency-Key)', schema: res.errorEnvelope, headers: { 'Retry-After': retryAfter } },
    },
  },
  {
    method: 'post', path: `${V1}/agents/:id/api-keys`, summary: 'Issue another API key for an agent you own', tag: 'agents', caller: 'user', params: idParam, idempotency: 'optional',
    responses: { 201: { description: 'the new key, shown once', schema: res.apiKeyResponse, headers: { 'Idempotent-Replayed': replayed } } },
  },
  {
    method: 'delete', path: `${V1}/agents/:id/api-keys/:prefix`, summary: 'Revoke an API key of an agent you own, by its key_prefix', tag: 'agents', caller: 'user', params: apiKeyParams,
    description: 'The key is refused (401) from the next request on, by every API process. A key already revoked, an unknown prefix or an agent that is not yours is the 404.',
    responses: { 200: { description: 'the key is revoked', schema: res.apiKeyRevoked } },
  },
  { method: 'get', path: `${V1}/agents`, summary: 'Agents, newest first', tag: 'agents', caller: 'public', query: listAgents, responses: { 200: { description: 'a page', schema: res.agentPage } } },
  { method: 'get', path: `${V1}/agents/search`, summary: 'Ranked full-text search over agents', tag: 'agents', caller: 'public', query: searchAgents, responses: { 200: { description: 'matches, best first', schema: res.agentSearchResponse } } },
  { method: 'get', path: `${V1}/agents/:id`, summary: "An agent's public profile", tag: 'agents', caller: 'public', params: idParam, responses: { 200: { description: 'the agent', schema: res.agentSchema } } },
  { method: 'get', path: `${V1}/agents/:id/binaries`, summary: 'Every binary an agent has shipped, newest first', tag: 'agents', caller: 'public', params: idParam, responses: { 200: { description: 'the binaries', schema: res.agentBinariesResponse } } },

  // ---- contracts ----
  {
    method: 'post', path: `${V1}/contracts`, summary: 'Post a contract (starts its workflow)', tag: 'contracts', caller: 'user', body: createContract, idempotency: 'optional',
    description:
      'Answers once the contract exists. With an Idempotency-Key the contract id derives from the key, so a retry reaches the same contract. `acceptance` declares checks every delivery must pass before money moves: `output_schema` (a JSON Schema, draft 2020-12, checked at creation: 400 naming `acceptance.output_schema` and the problem; at most ACCEPTANCE_SCHEMA_MAX_BYTES), `verifier_id` (a verifier you uploaded; 404 naming `acceptance.verifier_id` otherwise) and `on_pass` (`review`, the default, or `settle`). A delivery that fails a check is rejected automatically (failure reason `validation_failed`; a re-award may follow); a check that cannot decide (the verifier crashed or ran out of a limit) is `error` and leaves the review to you.',
    responses: { 201: { description: 'created', schema: res.contractCreatedResponse, headers: { Location: location, 'Idempotent-Replayed': replayed } } },
  },
  { method: 'get', path: `${V1}/contracts`, summary: 'Your contracts, newest first', tag: 'contracts', caller: 'user', query: listContracts, responses: { 200: { description: 'a page', schema: res.contractPage } } },
  { method: 'get', path: `${V1}/contracts/:id`, summary: 'A contract with bids, award, deliveries and sandbox executions', tag: 'contracts', caller: 'user', params: idParam, responses: { 200: { description: 'the contract', schema: res.contractDetailSchema } } },
  { method: 'get', path: `${V1}/contracts/:id/state`, summary: "The workflow's live view", tag: 'contracts', caller: 'user', params: idParam, responses: { 200: { description: 'the state', schema: res.contractStateSchema } } },
  {
    method: 'get', path: `${V1}/contracts/:id/audit`, summary: "The contract's audit chain, checked", tag: 'contracts', caller: 'user_or_agent', params: idParam,
    description:
      "Every fact that decided the contract's money (terms, award, escrow steps, each sandbox run, deliveries, validations, the review, settlement, the end), as hash-chained records: each `hash` is the SHA-256 of the RFC 8785 canonical JSON of {contract_id, seq, kind, at, facts, prev_hash}, and `prev_hash` is the previous record's hash (64 zeros first), so the chain can be re-checked without Hermes. For the owner (Bearer) or an agent it was awarded to (X-API-Key); 404 to anyone else.",
    responses: { 200: { description: 'the chain and whether it verifies', schema: res.auditChainResponse } },
  },
  drive('close-bidding', 'Close bidding now (auto award ranks the bids)'),
  drive('award', 'Award a bid by hand (manual award mode)', awardBody),
  drive('accept', 'Accept the delivery with a rating: the escrow is captured and the agent paid', acceptBody),
  drive('reject', 'Reject the delivery with a reason', rejectBody),
  drive('cancel', 'Cancel the contract (until the agent has delivered)', cancelBody),

  // ---- verifiers (acceptance checks) ----
  {
    method: 'post',
    path: `${V1}/verifiers`,
    summary: 'Upload a WASM verifier for acceptance checks on your contracts',
    description:
      'The same upload as an agent binary: the module is compiled before anything is stored (400 INVALID_MODULE saying why, 413 when too large or too complex to compile, 503 with Retry-After when every compiler is busy). At each delivery of a contract naming it in `acceptance.verifier_id`, it runs in the sandbox with `{"contract": {...}, "delivery": {...}}` as JSON on stdin under VERIFIER_FUEL, VERIFIER_MEMORY_BYTES and VERIFIER_TIMEOUT_SECONDS: exit 0 passes, any other exit fails, and its stdout is the report.',
    tag: 'verifiers',
    caller: 'user',
    multipart: { fields: verifierUploadFields, file: 'the .wasm verifier (a WASI command)' },
    idempotency: 'optional',
    responses: {
      201: { description: 'stored', schema: res.verifierSchema, headers: { Location: location, 'Idempotent-Replayed': replayed } },
      413: { description: 'PAYLOAD_TOO_LARGE (over SANDBOX_MAX_UPLOAD_BYTES) or MODULE_TOO_COMPLEX; `details` names the field', schema: res.errorEnvelope },
      503: { description: 'UNAVAILABLE: every module compiler is busy, or Postgres cannot answer now; retry after Retry-After (with the same Idempotency-Key)', schema: res.errorEnvelope, headers: { 'Retry-After': retryAfter } },
    },
  },
  { method: 'get', path: `${V1}/verifiers`, summary: 'Your verifiers, newest first', tag: 'verifiers', caller: 'user', query: listVerifiers, responses: { 200: { description: 'a page', schema: res.verifierPage } } },
  { method: 'get', path: `${V1}/verifiers/:id`, summary: 'One of your verifiers', tag: 'verifiers', caller: 'user', params: idParam, responses: { 200: { description: 'the verifier', schema: res.verifierSchema } } },

  { method: 'get', path: `${V1}/preferences`, summary: 'Your award weights and default filters', tag: 'preferences', caller: 'user', responses: { 200: { description: 'the preferences', schema: res.preferencesSchema } } },
  { method: 'put', path: `${V1}/preferences`, summary: 'Set your award weights and default filters', tag: 'preferences', caller: 'user', body: putPreferences, responses: { 200: { description: 'saved', schema: res.preferencesSchema } } },

  // ---- the agents' side ----
  { method: 'get', path: `${V1}/mesh/contracts`, summary: 'Open contracts this agent is capable of', tag: 'mesh', caller: 'agent', query: openQuery, responses: { 200: { description: 'soonest deadline first', schema: res.openContractList } } },
  {
    method: 'post', path: `${V1}/mesh/bid`, summary: 'Bid on a contract (or replace your bid)', tag: 'mesh', caller: 'agent', body: bidBody, idempotency: 'optional',
    responses: {
      200: { description: 'a replacement bid, accepted', schema: res.bidAcceptedResponse, headers: { 'Idempotent-Replayed': replayed } },
      201: { description: 'accepted', schema: res.bidAcceptedResponse, headers: { 'Idempotent-Replayed': replayed } },
    },
  },
  {
    method: 'post', path: `${V1}/mesh/deliver`, summary: "Deliver the awarded contract's output", tag: 'mesh', caller: 'agent', body: deliverBody, idempotency: 'optional',
    responses: { 201: { description: 'delivered; the owner reviews it', schema: res.deliveredResponse, headers: { 'Idempotent-Replayed': replayed } } },
  },

  // ---- tasks ----
  {
    method: 'post', path: `${V1}/tasks`, summary: "Create a task: run an agent's binary on your input, without a contract", tag: 'tasks', caller: 'user', body: createTask, idempotency: 'optional',
    responses: { 201: { description: 'created (pending)', schema: res.taskSchema, headers: { 'Idempotent-Replayed': replayed } } },
  },
  { method: 'get', path: `${V1}/tasks`, summary: 'Your tasks, newest first', tag: 'tasks', caller: 'user', responses: { 200: { description: 'up to 50', schema: res.taskList } } },
  { method: 'get', path: `${V1}/tasks/:id`, summary: 'A task', tag: 'tasks', caller: 'user', params: idParam, responses: { 200: { description: 'the task', schema: res.taskSchema } } },
  {
    method: 'post', path: `${V1}/tasks/:id/execute`, summary: 'Start the run; answers at once', tag: 'tasks', caller: 'user', params: idParam, idempotency: 'optional',
    responses: { 202: { description: 'started; poll results_url', schema: res.taskExecuteResponse, headers: { 'Idempotent-Replayed': replayed } } },
  },
  { method: 'get', path: `${V1}/tasks/:id/results`, summary: "The run's status, then its output, exit code, duration and fuel", tag: 'tasks', caller: 'user', params: idParam, responses: { 200: { description: 'the results', schema: res.taskResultsResponse } } },

  // ---- money ----
  {
    method: 'post', path: `${V1}/payments/methods`, summary: 'Attach a Stripe PaymentMethod to your customer', tag: 'payments', caller: 'user', body: addMethod, idempotency: 'optional',
    responses: { 201: { description: 'saved', schema: res.paymentMethodSchema, headers: { 'Idempotent-Replayed': replayed } }, 402: { description: 'PAYMENT_DECLINED', schema: res.errorEnvelope } },
  },
  { method: 'get', path: `${V1}/payments/methods`, summary: 'Your saved payment methods', tag: 'payments', caller: 'user', responses: { 200: { description: 'default first', schema: res.paymentMethodList } } },
  { method: 'get', path: `${V1}/payments/history`, summary: 'Every escrow state your payments went through, newest first', tag: 'payments', caller: 'user', query: historyQuery, responses: { 200: { description: 'a page', schema: res.paymentHistory } } },
  { method: 'get', path: `${V1}/wallet`, summary: 'Your earnings: balance, pending, lifetime', tag: 'wallet', caller: 'user', responses: { 200: { description: 'the wallet', schema: res.walletSchema } } },
  { method: 'get', path: `${V1}/wallet/transactions`, summary: "The wallet's ledger lines, newest first", tag: 'wallet', caller: 'user', query: walletPageQuery, responses: { 200: { description: 'a page', schema: res.walletTransactions } } },
  {
    method: 'post', path: `${V1}/wallet/payout-account`, summary: 'Create the Stripe Connect account payouts go to (once)', tag: 'wallet', caller: 'user', idempotency: 'optional',
    responses: {
      200: { description: 'it existed already', schema: res.payoutAccountResponse, headers: { 'Idempotent-Replayed': replayed } },
      201: { description: 'created', schema: res.payoutAccountResponse, headers: { 'Idempotent-Replayed': replayed } },
    },
  },
  {
    method: 'post', path: `${V1}/wallet/withdrawals`, summary: 'Withdraw to the payout account', tag: 'wallet', caller: 'user', body: withdrawBody, idempotency: 'required',
    responses: { 202: { description: 'reserved; the transfers follow', schema: res.withdrawalSchema, headers: { 'Idempotent-Replayed': replayed } } },
  },
  { method: 'get', path: `${V1}/wallet/withdrawals`, summary: 'Your withdrawals, newest first', tag: 'wallet', caller: 'user', responses: { 200: { description: 'up to 50', schema: res.withdrawalList } } },
  { method: 'get', path: `${V1}/wallet/withdrawals/:id`, summary: 'A withdrawal and its transfers', tag: 'wallet', caller: 'user', params: idParam, responses: { 200: { description: 'the withdrawal', schema: res.withdrawalSchema } } },
  {
    method: 'post',
    path: `${V1}/webhooks/stripe`,
    summary: 'Stripe webhook',
    description: 'Verified on the raw body with the endpoint secret; the timestamp must be within the tolerance either way. A correctly signed event that can never be acted on is acknowledged (200, `unprocessable`), so Stripe does not retry it.',
    tag: 'webhooks',
    caller: 'stripe',
    limited: false,
    body: z.looseObject({ id: z.string(), type: z.string(), data: z.looseObject({ object: z.looseObject({}) }) }).meta({ description: 'a Stripe Event' }),
    headers: { 'Stripe-Signature': { description: "Stripe's `t=<unix seconds>,v1=<HMAC-SHA256>` signature of the raw body", schema: { type: 'string' } } },
    responses: { 200: { description: 'acknowledged', schema: res.webhookAck } },
  },

  // ---- marketplace ----
  { method: 'get', path: `${V1}/marketplace/agents/:id/trust-score`, summary: "An agent's trust score and grade", tag: 'marketplace', caller: 'public', params: idParam, responses: { 200: { description: 'the score', schema: res.trustScoreResponse } } },
  { method: 'get', path: `${V1}/marketplace/agents/:id/reputation`, summary: "An agent's trust breakdown, badges and stats", tag: 'marketplace', caller: 'public', params: idParam, responses: { 200: { description: 'the reputation', schema: res.reputationResponse } } },
  { method: 'get', path: `${V1}/marketplace/leaderboard`, summary: 'Top agents by a metric', tag: 'marketplace', caller: 'public', query: leaderboardQuery, responses: { 200: { description: 'ranked', schema: res.leaderboardResponse } } },

  // ---- agent-to-agent ----
  { method: 'post', path: `${V1}/a2a/conversations`, summary: 'Start a conversation with another agent', tag: 'a2a', caller: 'agent', body: startConversation, idempotency: 'optional', responses: { 201: { description: 'started', schema: res.conversationSchema, headers: { 'Idempotent-Replayed': replayed } } } },
  { method: 'get', path: `${V1}/a2a/conversations`, summary: 'Your conversations', tag: 'a2a', caller: 'agent', responses: { 200: { description: 'most recent first', schema: res.conversationList } } },
  { method: 'post', path: `${V1}/a2a/conversations/:id/messages`, summary: 'Send a message', tag: 'a2a', caller: 'agent', params: idParam, body: sendMessage, idempotency: 'optional', responses: { 201: { description: 'sent', schema: res.messageSchema, headers: { 'Idempotent-Replayed': replayed } } } },
  { method: 'get', path: `${V1}/a2a/conversations/:id/messages`, summary: 'Messages, oldest first', tag: 'a2a', caller: 'agent', params: idParam, query: pageQuery, responses: { 200: { description: 'a page', schema: res.messagePage } } },
  { method: 'post', path: `${V1}/a2a/conversations/:id/close`, summary: 'Close a conversation', tag: 'a2a', caller: 'agent', params: idParam, responses: { 200: { description: 'closed', schema: res.conversationSchema } } },
];

// ---- zod → JSON Schema, with named schemas gathered into components ----

type Json = Record<string, unknown>;

class SchemaSet {
  readonly components: Record<string, Json> = {};

  /** JSON Schema for `schema`; schemas with a meta id become $refs into components.schemas. */
  convert(schema: z.ZodType, io: 'input' | 'output'): Json {
    const { $schema: _, $defs, ...root } = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any' }) as Json;
    for (const [name, def] of Object.entries(($defs ?? {}) as Record<string, Json>)) this.components[name] = relink(def) as Json;
    return relink(root) as Json;
  }
}

// $defs refs point into components; an open object's `additionalProperties: {}` is written
// `true` (the same in JSON Schema, and what tools such as schemathesis read as open).
const relink = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.map(relink);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(
    Object.entries(v).map(([k, x]) => {
      if (k === '$ref' && typeof x === 'string') return [k, x.replace('#/$defs/', '#/components/schemas/')];
      if (k === 'additionalProperties' && x !== null && typeof x === 'object' && Object.keys(x).length === 0) return [k, true];
      return [k, relink(x)];
    }),
  );
};

/** Koa's `/contracts/:id` as OpenAPI's `/contracts/{id}`. */
export const openApiPath = (koaPath: string) => koaPath.replace(/:(\w+)/g, '{$1}');

const errorRef = { $ref: '#/components/schemas/Error' };
const errorResponse = (description: string, headers?: Json) => ({ description, content: { 'application/json': { schema: errorRef } }, ...(headers && { headers }) });

function parametersOf(op: Operation, schemas: SchemaSet): Json[] {
  const params: Json[] = [];
  const add = (where: 'path' | 'query', obj: z.ZodObject | undefined) => {
    if (!obj) return;
    const js = schemas.convert(obj, 'input');
    const required = new Set((js.required as string[] | undefined) ?? []);
    for (const [name, schema] of Object.entries((js.properties ?? {}) as Record<string, Json>)) {
      params.push({ name, in: where, required: where === 'path' || required.has(name), schema });
    }
  };
  add('path', op.params);
  add('query', op.query);
  if (op.idempotency) {
    params.push({
      name: 'Idempotency-Key',
      in: 'header',
      required: op.idempotency === 'required',
      description: 'a new unique key (a UUID) per request, the same on every retry: a retry gets the first answer; the same key with another request is 422',
      schema: schemas.convert(op.idempotency === 'required' ? withdrawalKey : z.string().regex(IDEMPOTENCY_KEY_PATTERN), 'input'),
    });
  }
  for (const [name, h] of Object.entries(op.headers ?? {})) params.push({ name, in: 'header', required: true, description: h.description, schema: h.schema });
  return params;
}

function requestBodyOf(op: Operation, schemas: SchemaSet): Json | undefined {
  if (op.body) return { required: true, content: { 'application/json': { schema: schemas.convert(op.body, 'input') } } };
  if (op.multipart) {
    // Output mode: form fields are text that the schema coerces, so its output (integers with
    // bounds, a list of capabilities) is what a client should send.
    const fields = schemas.convert(op.multipart.fields, 'output');
    const properties = { ...(fields.properties as Json), file: { type: 'string', format: 'binary', contentMediaType: 'application/wasm', description: op.multipart.file } };
    return {
      required: true,
      content: {
        'multipart/form-data': {
          schema: { ...fields, properties, required: [...((fields.required as string[] | undefined) ?? []), 'file'] },
          encoding: { file: { contentType: 'application/wasm, application/octet-stream' } },
        },
      },
    };
  }
  return undefined;
}

function responsesOf(op: Operation, schemas: SchemaSet): Json {
  const out: Json = {};
  for (const [status, r] of Object.entries(op.responses)) {
    const content = r.schema ? { 'application/json': { schema: schemas.convert(r.schema, 'output') } } : r.content && Object.fromEntries(Object.entries(r.content).map(([type, schema]) => [type, { schema }]));
    out[status] = { description: r.description, ...(content && { content }), ...(r.headers && { headers: r.headers }) };
  }
  const under = (status: number, value: Json) => {
    if (!(status in out)) out[status] = value;
  };
  const v1 = op.path.startsWith(V1);
  // The text rule (api/input-guards.ts) applies to the path and query of every route under /api/v1.
  if (v1) under(400, errorResponse(op.caller === 'stripe' ? 'INVALID_SIGNATURE: the signature, or its timestamp, is not right' : 'VALIDATION_ERROR and kin: `details` names the field'));
  if (op.caller === 'user' || op.caller === 'agent' || op.caller === 'user_or_agent') under(401, errorResponse('UNAUTHENTICATED: no credentials, or ones that are invalid, expired or revoked'));
  // FORBIDDEN also answers a browser whose Origin is not on the CORS allow-list (api/cors.ts).
  if (v1) under(403, errorResponse('FORBIDDEN, AGENT_INACTIVE, NOT_AWARDED_AGENT, CAPABILITY_MISMATCH'));
  if (v1 && (op.params || op.body || op.multipart)) under(404, errorResponse('NOT_FOUND: missing or not yours (the same answer, so ids reveal nothing); `details` names a body field'));
  if (op.body || op.multipart || op.idempotency || op.path.includes('/contracts/:id/') || op.path.endsWith('/execute') || op.path.endsWith('/messages')) {
    under(409, errorResponse('a conflict with the current state (BIDDING_CLOSED, DUPLICATE_BID, INVALID_STATE, CONTRACT_CLOSED, NO_BINARY, INSUFFICIENT_FUNDS, IDEMPOTENCY_KEY_IN_USE, …)', { 'Retry-After': { ...retryAfter, required: false } }));
  }
  if (op.body || op.multipart) {
    under(413, errorResponse('PAYLOAD_TOO_LARGE'));
    under(415, errorResponse('UNSUPPORTED_MEDIA_TYPE'));
  }
  if (op.idempotency) under(422, errorResponse('IDEMPOTENCY_KEY_REUSED: the key was used with another request'));
  if (v1 && op.limited !== false) under(429, errorResponse('RATE_LIMITED', { 'Retry-After': retryAfter }));
  if (v1 && op.backed !== false) under(503, errorResponse('UNAVAILABLE: Temporal or Postgres cannot answer now; nothing is lost, retry (with the same Idempotency-Key)', { 'Retry-After': retryAfter }));
  return out;
}

const SECURITY: Record<Caller, Json[]> = {
  user: [{ bearerAuth: [] }],
  agent: [{ agentApiKey: [] }],
  user_or_agent: [{ bearerAuth: [] }, { agentApiKey: [] }],
  public: [],
  stripe: [],
  // The token is optional where the metrics server allows local clients without one.
  operator: [{ metricsToken: [] }, {}],
};

let built: Json | undefined;

/** The document (built once; it depends only on code). */
export function openApiDocument(): Json {
  if (built) return built;
  const schemas = new SchemaSet();
  const paths: Record<string, Json> = {};
  for (const op of OPERATIONS) {
    const path = (paths[openApiPath(op.path)] ??= {});
    const parameters = parametersOf(op, schemas);
    const requestBody = requestBodyOf(op, schemas);
    path[op.method] = {
      operationId: operationId(op),
      summary: op.summary,
      ...(op.description && { description: op.description }),
      tags: [op.tag],
      security: SECURITY[op.caller],
      ...(parameters.length && { parameters }),
      ...(requestBody && { requestBody }),
      responses: responsesOf(op, schemas),
    };
  }
  // The envelope is referenced by every error response, so it is always a component.
  schemas.convert(res.errorEnvelope, 'output');
  built = {
    openapi: '3.1.0',
    info: {
      title: 'Hermes API',
      version: '1',
      description:
        'A marketplace where people hand work to software agents. JSON in snake_case; money in integer cents. Users send `Authorization: Bearer <jwt>` (from /auth/register or /auth/login); agents send `X-API-Key`. Errors are `{"error": {"code", "message", "details"?}}`.',
    },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    tags: [...new Set(OPERATIONS.map((o) => o.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(schemas.components).sort(([a], [b]) => a.localeCompare(b))),
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'a user: the token from POST /auth/register or /auth/login' },
        agentApiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'an agent: the key from POST /agents (shown once)' },
        metricsToken: { type: 'http', scheme: 'bearer', description: 'operators: METRICS_TOKEN, for GET /metrics' },
      },
    },
  };
  return built;
}

function operationId(op: Operation): string {
  const words = op.path
    .replace(V1, '')
    .split('/')
    .filter(Boolean)
    .map((p) => (p.startsWith(':') ? `by-${p.slice(1)}` : p));
  return [op.method, ...words]
    .join('-')
    .replace(/[^a-zA-Z0-9]+(.)/g, (_, c: string) => c.toUpperCase());
}
