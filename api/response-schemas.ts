import { z } from 'zod';
import { CHECK_STATUSES, ON_PASS, VALIDATION_STATUSES } from '../domain/acceptance';
import { ERROR_STATUS } from '../domain/errors';
import {
  AGENT_STATUSES,
  AWARD_MODES,
  BID_STATUSES,
  CONTRACT_STATUSES,
  CONVERSATION_STATUSES,
  DELIVERY_SOURCES,
  DELIVERY_STATUSES,
  FAILURE_REASONS,
  MESSAGE_TYPES,
  PAYMENT_EVENT_KINDS,
  PAYMENT_STATUSES,
  TASK_OUTCOMES,
  TASK_STATUSES,
  WITHDRAWAL_STATUSES,
} from '../domain/statuses';
import { BADGES, GRADES } from '../domain/trust';

// What the API answers, as zod schemas: one per serializer in api/serializers.ts (and per
// inline answer in api/routes). They are the response half of the OpenAPI document
// (api/openapi.ts), and tests validate real responses against that document. z.object is
// closed in JSON Schema's output mode (additionalProperties: false), so a key that is not
// written here — a camelCase leftover, an internal column — fails the check.

const id = z.uuid();
const time = z.iso.datetime();
const nullableTime = time.nullable();
const cents = z.number().int();
/** Free-form JSON a client sent (context, input, output, message bodies), passed through as it came. */
const anyJson = z.unknown().meta({ description: 'any JSON value, as the client sent it' });

// ---- errors ----

export const errorDetail = z.looseObject({ field: z.string().optional(), message: z.string().optional() }).meta({
  id: 'ErrorDetail',
  description: 'Which input was wrong (field is a JSON path, a header name, `body` or `path`) and why.',
});

export const errorEnvelope = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_STATUS) as [keyof typeof ERROR_STATUS, ...(keyof typeof ERROR_STATUS)[]]),
      message: z.string(),
      details: z.array(errorDetail).optional(),
      // Only on a 500: quote it when reporting the fault.
      request_id: z.string().optional(),
    }),
  })
  .meta({ id: 'Error', description: 'Every error: a stable code, a message for people, and the fields it is about.' });

// ---- auth ----

export const tokenResponse = z.object({ token: z.string(), token_type: z.literal('Bearer'), expires_in: z.number().int() }).meta({ id: 'Token' });
export const registerResponse = z
  .object({
    user: z.object({ id, email: z.string(), name: z.string() }),
    token: z.string(),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int(),
  })
  .meta({ id: 'Registration' });

// ---- agents ----

export const agentSchema = z
  .object({
    id,
    owner_id: id,
    name: z.string(),
    description: z.string(),
    version: z.string(),
    capabilities: z.array(z.string()),
    status: z.enum(AGENT_STATUSES),
    price_cents: cents,
    tasks_completed: z.number().int(),
    rating: z.number().nullable(),
    binary: z.object({ sha256: z.string(), size_bytes: z.number().int().nullable(), url: z.string().nullable() }).nullable(),
    online: z.boolean(),
    last_seen_at: nullableTime,
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'Agent' });

export const agentCreatedResponse = z
  .object({ agent: agentSchema, api_key: z.string().meta({ description: 'shown in this response only' }) })
  .meta({ id: 'AgentCreated' });

export const agentBinarySchema = z
  .object({ sha256: z.string(), version: z.string(), size_bytes: z.number().int(), url: z.string(), created_at: time })
  .meta({ id: 'AgentBinary' });

export const agentUploadResponse = z
  .object({
    agent: agentSchema,
    binary: z.object({ sha256: z.string(), size_bytes: z.number().int(), url: z.string(), version: z.string() }),
    api_key: z.string().optional().meta({ description: 'only when the upload created the agent (201)' }),
  })
  .meta({ id: 'AgentUpload' });

export const apiKeyResponse = z.object({ api_key: z.string(), key_prefix: z.string() }).meta({ id: 'ApiKey' });
export const apiKeyRevoked = z.object({ key_prefix: z.string(), revoked_at: time }).meta({ id: 'ApiKeyRevoked' });
const nextCursor = z.string().nullable().meta({ description: 'pass as `cursor` for the next page; null on the last' });
export const agentPage = z.object({ data: z.array(agentSchema), next_cursor: nextCursor }).meta({ id: 'AgentPage' });
export const agentSearchResponse = z
  .object({ query: z.string(), data: z.array(agentSchema.extend({ rank: z.number() })) })
  .meta({ id: 'AgentSearchResults' });
export const agentBinariesResponse = z
  .object({ current: z.string().nullable(), data: z.array(agentBinarySchema) })
  .meta({ id: 'AgentBinaries' });

// ---- tasks and sandbox runs ----

export const taskSchema = z
  .object({
    id,
    agent_id: id,
    status: z.enum(TASK_STATUSES),
    input: anyJson,
    timeout_seconds: z.number().int().nullable(),
    binary_sha256: z.string().nullable(),
    workflow_id: z.string().nullable(),
    created_at: time,
    started_at: nullableTime,
    finished_at: nullableTime,
  })
  .meta({ id: 'Task' });

const encoding = z.enum(['utf8', 'base64']).nullable();
const deliveryEncoding = z
  .enum(['json', 'text', 'base64'])
  .meta({ description: "how `output` is to be read: json, the JSON value delivered (or printed as JSON by the agent's binary); text, the text the binary printed, exactly; base64, the bytes it printed, which are not UTF-8 text" });
// The fields of one sandbox run (taskResultJson), shared by executions and task results.
const runFields = {
  round: z.number().int(),
  attempt: z.number().int(),
  outcome: z.enum(TASK_OUTCOMES),
  exit_code: z.number().int().nullable(),
  stdout: z.string().nullable(),
  stdout_encoding: encoding,
  stdout_sha256: z.string().nullable(),
  stdout_bytes: z.number().int().nullable(),
  stderr: z.string().nullable(),
  stderr_encoding: encoding,
  stderr_sha256: z.string().nullable(),
  stderr_bytes: z.number().int().nullable(),
  duration_ms: z.number().nullable(),
  // null when the sandbox meters by epoch only (SANDBOX_METERING=epoch); cpu_time_us is the cost then
  fuel: z.number().int().nullable(),
  cpu_time_us: z.number().int().nullable(),
  error: z.string().nullable(),
  created_at: time,
};
export const taskResultSchema = z.object(runFields).meta({ id: 'SandboxRun' });

export const taskExecuteResponse = taskSchema.extend({ results_url: z.string() }).meta({ id: 'TaskStarted' });
export const taskResultsResponse = z
  .object({
    task_id: id,
    status: z.enum(TASK_STATUSES),
    // The final attempt's fields, once the task is done.
    ...z.object(runFields).partial().shape,
    started_at: nullableTime,
    finished_at: nullableTime,
    attempts: z.array(taskResultSchema),
  })
  .meta({ id: 'TaskResults' });
export const taskList = z.object({ data: z.array(taskSchema) }).meta({ id: 'TaskList' });

// ---- contracts ----

const weights = z
  .object({ price: z.number().int(), performance: z.number().int(), speed: z.number().int(), reputation: z.number().int() })
  .meta({ id: 'Weights', description: 'award weights in basis points (sum 10000)' });
const filters = z
  .object({
    max_price_cents: cents.optional(),
    min_confidence: z.number().optional(),
    max_latency_seconds: z.number().int().optional(),
    min_reputation: z.number().optional(),
    free_only: z.boolean().optional(),
  })
  .meta({ id: 'Filters' });

export const rankedBidSchema = z
  .object({
    bid_id: id,
    agent_id: id,
    price_cents: cents,
    eta_seconds: z.number().int(),
    eligible: z.boolean(),
    excluded_by: z.array(z.enum(['max_price_cents', 'min_confidence', 'max_latency_seconds', 'min_reputation', 'free_only', 'price_above_reward'])),
    factors: z.object({ price: z.number(), performance: z.number(), speed: z.number(), reputation: z.number() }).nullable(),
    score: z.number().nullable(),
    rank: z.number().int().nullable(),
  })
  .meta({ id: 'RankedBid', description: "a bid's place in the award's ranking: its factors and score, or the filters that excluded it" });

export const awardDetailSchema = z
  .object({
    bid_id: id,
    agent_id: id,
    price_cents: cents,
    eta_seconds: z.number().int(),
    mode: z.enum(AWARD_MODES),
    score: z.number().nullable(),
    ranking: z.array(rankedBidSchema),
    awarded_at: time,
  })
  .meta({ id: 'AwardDetail' });

export const bidSchema = z
  .object({
    id,
    agent_id: id,
    price_cents: cents,
    eta_seconds: z.number().int(),
    confidence: z.number(),
    message: z.string().nullable(),
    status: z.enum(BID_STATUSES),
    revision: z.number().int(),
    score: rankedBidSchema.nullable(),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'Bid' });

// ---- acceptance checks ----

export const acceptanceSchema = z
  .object({
    output_schema: z.record(z.string(), z.unknown()).nullable().meta({ description: 'the JSON Schema (draft 2020-12) every delivery output must satisfy' }),
    verifier: z.object({ id, name: z.string(), sha256: z.string() }).nullable().meta({ description: 'the verifier module pinned at creation (by SHA-256)' }),
    on_pass: z.enum(ON_PASS),
  })
  .meta({ id: 'Acceptance', description: "a contract's acceptance checks: what every delivery must pass before money moves" });

export const validationCheckSchema = z
  .object({
    name: z.enum(['output_schema', 'verifier']),
    status: z.enum(CHECK_STATUSES),
    message: z.string(),
    errors: z.array(z.object({ instance_path: z.string(), schema_path: z.string(), keyword: z.string(), message: z.string() })).optional(),
    verifier_id: id.optional(),
    verifier_sha256: z.string().optional(),
    outcome: z.string().nullable().optional(),
    exit_code: z.number().int().nullable().optional(),
    fuel_consumed: z.number().nullable().optional(),
    cpu_time_us: z.number().nullable().optional(),
    duration_ms: z.number().nullable().optional(),
    stderr: z.string().nullable().optional(),
  })
  .meta({ id: 'ValidationCheck' });

export const validationSchema = z
  .object({
    status: z.enum([...VALIDATION_STATUSES, 'pending']),
    checks: z.array(validationCheckSchema),
    report: z.string().nullable().meta({ description: "the verifier's stdout, or null when no verifier ran" }),
    validated_at: nullableTime,
  })
  .meta({ id: 'Validation', description: "a delivery's acceptance checks: pending while they run, then passed, failed or error" });

export const verifierSchema = z
  .object({ id, name: z.string(), description: z.string(), sha256: z.string(), size_bytes: z.number().int(), created_at: time, updated_at: time })
  .meta({ id: 'Verifier', description: 'a WASM verifier module its owner uploaded' });
export const verifierPage = z.object({ data: z.array(verifierSchema), next_cursor: nextCursor }).meta({ id: 'VerifierPage' });

export const deliverySchema = z
  .object({
    id,
    agent_id: id,
    bid_id: id,
    attempt: z.number().int(),
    source: z.enum(DELIVERY_SOURCES),
    output: anyJson,
    output_encoding: deliveryEncoding,
    status: z.enum(DELIVERY_STATUSES),
    rating: z.number().int().nullable(),
    review_comment: z.string().nullable(),
    validation: validationSchema.nullable(),
    is_validated: z.boolean(),
    delivered_at: time,
    reviewed_at: nullableTime,
  })
  .meta({ id: 'Delivery' });

const contractFields = {
  id,
  workflow_id: z.string(),
  status: z.enum(CONTRACT_STATUSES),
  intent: z.string(),
  context: anyJson,
  required_capabilities: z.array(z.string()),
  reward_cents: cents,
  currency: z.string(),
  award_mode: z.enum(AWARD_MODES),
  filters,
  weights,
  bidding_deadline: time,
  delivery_window_seconds: z.number().int(),
  review_window_seconds: z.number().int(),
  delivery_deadline: nullableTime,
  review_deadline: nullableTime,
  award: z
    .object({ bid_id: id, agent_id: id, price_cents: cents, awarded_at: nullableTime, detail: awardDetailSchema.nullable() })
    .nullable(),
  acceptance: acceptanceSchema.nullable(),
  failure_reason: z.enum(FAILURE_REASONS).nullable(),
  status_detail: z.string().nullable(),
  rating: z.number().int().nullable(),
  created_at: time,
  updated_at: time,
  closed_at: nullableTime,
};
export const contractSchema = z.object(contractFields).meta({ id: 'Contract' });
export const contractDetailSchema = z
  .object({ ...contractFields, bids: z.array(bidSchema), deliveries: z.array(deliverySchema), executions: z.array(taskResultSchema) })
  .meta({ id: 'ContractDetail', description: 'A contract with its bids (and their scores), award, deliveries and sandbox executions.' });
export const contractPage = z.object({ data: z.array(contractSchema), next_cursor: nextCursor }).meta({ id: 'ContractPage' });

export const contractCreatedResponse = z
  .object({
    id,
    workflow_id: z.string(),
    status: z.enum(CONTRACT_STATUSES),
    bidding_deadline: time,
    reward_cents: cents,
    currency: z.string(),
    award_mode: z.enum(AWARD_MODES),
    weights,
    filters,
    acceptance: acceptanceSchema.nullable(),
  })
  .meta({ id: 'ContractCreated' });

const acceptedBidFields = {
  id,
  contract_id: id,
  agent_id: id,
  price_cents: cents,
  eta_seconds: z.number().int(),
  confidence: z.number(),
  message: z.string().nullable().optional(),
  revision: z.number().int(),
  submitted_at: time,
};
export const acceptedBidSchema = z.object(acceptedBidFields).meta({ id: 'AcceptedBid' });

export const contractStateSchema = z
  .object({
    contract_id: id,
    user_id: id,
    status: z.enum(CONTRACT_STATUSES),
    intent: z.string(),
    reward_cents: cents,
    currency: z.string(),
    award_mode: z.enum(AWARD_MODES),
    bidding_open: z.boolean(),
    bidding_deadline: time,
    award_deadline: nullableTime,
    delivery_deadline: nullableTime,
    review_deadline: nullableTime,
    bids: z.array(acceptedBidSchema),
    award: awardDetailSchema.nullable(),
    payment: z
      .object({
        payment_intent_id: z.string(),
        amount_cents: cents,
        status: z.enum(PAYMENT_STATUSES),
        capture_by: nullableTime,
        action_deadline: nullableTime,
      })
      .nullable(),
    delivery: z
      .object({ id, agent_id: id, bid_id: id, attempt: z.number().int(), source: z.enum(DELIVERY_SOURCES), output: anyJson, output_encoding: deliveryEncoding, delivered_at: time })
      .nullable(),
    execution: z
      .object({
        task_result_id: id,
        attempt: z.number().int(),
        outcome: z.enum(TASK_OUTCOMES),
        exit_code: z.number().int().nullable(),
        stdout: z.string(),
        stdout_encoding: z.enum(['utf8', 'base64']),
        stdout_sha256: z.string(),
        stdout_bytes: z.number().int(),
        stderr: z.string(),
        stderr_encoding: z.enum(['utf8', 'base64']),
        stderr_sha256: z.string(),
        stderr_bytes: z.number().int(),
        duration_ms: z.number(),
        fuel_consumed: z.number(),
        message: z.string().nullable(),
      })
      .nullable(),
    review: z
      .object({
        decision: z.enum(['accepted', 'rejected']),
        rating: z.number().int().nullable(),
        comment: z.string().nullable(),
        reason: z.string().nullable(),
        automatic: z.boolean(),
        reviewed_at: time,
      })
      .nullable(),
    validation: validationSchema.nullable(),
    failure_reason: z.enum(FAILURE_REASONS).nullable(),
    status_detail: z.string().nullable(),
    closed_at: nullableTime,
  })
  .meta({ id: 'ContractState', description: "the workflow's live view (its getState query)" });

export const preferencesSchema = z.object({ weights, default_filters: filters }).meta({ id: 'Preferences' });

// ---- mesh (agents) ----

export const openContractSchema = z
  .object({
    id,
    intent: z.string(),
    context: anyJson,
    required_capabilities: z.array(z.string()),
    reward_cents: cents,
    currency: z.string(),
    filters,
    bidding_deadline: time,
    delivery_window_seconds: z.number().int(),
    acceptance: acceptanceSchema.nullable(),
  })
  .meta({ id: 'OpenContract', description: 'what an agent sees of an open contract: the work and its terms, not the owner' });
export const openContractList = z.object({ data: z.array(openContractSchema) }).meta({ id: 'OpenContractList' });
export const bidAcceptedResponse = z.object({ status: z.literal('accepted'), bid: acceptedBidSchema }).meta({ id: 'BidAccepted' });
export const deliveredResponse = z
  .object({ delivery: z.object({ id, contract_id: id, attempt: z.number().int(), delivered_at: time }) })
  .meta({ id: 'Delivered' });

// ---- payments and wallet ----

export const paymentMethodSchema = z
  .object({
    id: z.string(),
    brand: z.string().nullable(),
    last4: z.string().nullable(),
    exp_month: z.number().int().nullable(),
    exp_year: z.number().int().nullable(),
    is_default: z.boolean(),
    created_at: time,
  })
  .meta({ id: 'PaymentMethod' });
export const paymentMethodList = z.object({ data: z.array(paymentMethodSchema) }).meta({ id: 'PaymentMethodList' });
export const paymentHistory = z
  .object({
    data: z.array(
      z.object({
        contract_id: id,
        payment_intent_id: z.string(),
        event: z.enum(PAYMENT_EVENT_KINDS),
        amount_cents: cents,
        currency: z.string(),
        payment_status: z.enum(PAYMENT_STATUSES),
        detail: z.unknown(),
        at: time,
      }),
    ),
    next_cursor: nextCursor,
  })
  .meta({ id: 'PaymentHistory' });

export const walletSchema = z
  .object({
    currency: z.string(),
    balance_cents: cents,
    pending_cents: cents,
    lifetime_earnings_cents: cents,
    payout_account: z.string().nullable(),
  })
  .meta({ id: 'Wallet' });
export const walletTransactions = z
  .object({
    data: z.array(
      z.object({
        id,
        transaction_id: id,
        kind: z.string(),
        amount_cents: cents,
        currency: z.string(),
        contract_id: id.nullable(),
        withdrawal_id: id.nullable(),
        description: z.string().nullable(),
        created_at: time,
      }),
    ),
    next_cursor: nextCursor,
  })
  .meta({ id: 'WalletTransactions' });
export const payoutAccountResponse = z.object({ payout_account: z.string() }).meta({ id: 'PayoutAccount' });
export const withdrawalSchema = z
  .object({
    id,
    amount_cents: cents,
    currency: z.string(),
    status: z.enum(WITHDRAWAL_STATUSES),
    payout_account: z.string().nullable(),
    failure: z.string().nullable(),
    transfers: z.array(
      z.object({
        contract_id: id,
        amount_cents: cents,
        transfer_group: z.string().nullable(),
        stripe_transfer_id: z.string().nullable(),
        reversed: z.boolean(),
      }),
    ),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'Withdrawal' });
export const withdrawalList = z.object({ data: z.array(withdrawalSchema) }).meta({ id: 'WithdrawalList' });

export const webhookAck = z
  .object({ received: z.literal(true), duplicate: z.literal(true).optional(), unprocessable: z.literal(true).optional(), reason: z.string().optional() })
  .meta({ id: 'WebhookAck' });

// ---- marketplace ----

const grade = z.enum(GRADES.map(([g]) => g) as [string, ...string[]]);
export const trustScoreResponse = z.object({ agent_id: id, trust_score: z.number(), grade }).meta({ id: 'TrustScore' });
export const reputationResponse = z
  .object({
    trust_score: z.number(),
    grade,
    breakdown: z.object({
      success_rate: z.number(),
      latency_score: z.number(),
      rating_score: z.number(),
      uptime_score: z.number(),
      consistency_score: z.number(),
    }),
    badges: z.array(z.enum(BADGES)),
    stats: z.object({
      total_contracts: z.number().int(),
      successful_contracts: z.number().int(),
      success_percentage: z.number(),
      avg_execution_time: z.number().nullable(),
      total_earnings: cents,
    }),
  })
  .meta({ id: 'Reputation' });
export const leaderboardResponse = z
  .object({
    metric: z.enum(['trust_score', 'total_earnings', 'total_contracts', 'success_rate']),
    data: z.array(
      z.object({
        rank: z.number().int(),
        agent_id: id,
        name: z.string(),
        grade,
        trust_score: z.number(),
        total_earnings: cents,
        total_contracts: z.number().int(),
        success_rate: z.number(),
        badges: z.array(z.enum(BADGES)),
      }),
    ),
  })
  .meta({ id: 'Leaderboard' });

// ---- agent-to-agent conversations ----

export const conversationSchema = z
  .object({
    id,
    initiator_agent_id: id,
    responder_agent_id: id,
    contract_id: id.nullable(),
    subject: z.string().nullable(),
    status: z.enum(CONVERSATION_STATUSES),
    created_at: time,
    closed_at: nullableTime,
  })
  .meta({ id: 'Conversation' });
export const conversationList = z.object({ data: z.array(conversationSchema) }).meta({ id: 'ConversationList' });
export const messageSchema = z
  .object({ id, conversation_id: id, sender_agent_id: id, type: z.enum(MESSAGE_TYPES), body: anyJson, created_at: time })
  .meta({ id: 'Message' });
export const messagePage = z.object({ data: z.array(messageSchema), next_cursor: nextCursor }).meta({ id: 'MessagePage' });

// ---- health ----

export const healthResponse = z.object({ status: z.literal('ok') }).meta({ id: 'Health' });
export const readinessResponse = z
  .object({
    status: z.enum(['ready', 'unavailable']),
    checks: z.object({ postgres: z.string(), redis: z.string(), temporal: z.string() }),
  })
  .meta({ id: 'Readiness', description: 'each check is `ok` or `error: <why>`' });


// ---- audit chain (domain/audit.ts) ----

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
export const auditRecordSchema = z
  .object({
    seq: z.number().int().min(1),
    kind: z.string().meta({ description: 'created, awarded, escrow_held, escrow_captured, escrow_voided, escrow_refunded, execution, delivery, validation, review, settlement, closed, …' }),
    at: time.nullable().meta({ description: 'when it was appended; null only when the stored record is not a record (tampered)' }),
    facts: z.record(z.string(), anyJson).nullable().meta({ description: 'the fact, snake_case; null only when the stored record is not a record (tampered)' }),
    prev_hash: sha256,
    hash: sha256.meta({ description: 'SHA-256 (hex) of the RFC 8785 canonical JSON of {contract_id, seq, kind, at, facts, prev_hash}' }),
  })
  .meta({ id: 'AuditRecord' });
export const auditBreakSchema = z
  .object({
    seq: z.number().int(),
    kind: z.string(),
    reason: z.enum(['hash_mismatch', 'seq_gap', 'prev_hash_mismatch', 'malformed', 'column_mismatch']),
    expected: z.string(),
    stored: z.string(),
    message: z.string(),
  })
  .meta({ id: 'AuditBreak', description: 'The first link of the chain that does not hold.' });
export const auditChainResponse = z
  .object({
    contract_id: id,
    records: z.array(auditRecordSchema),
    head_hash: sha256.meta({ description: "the last record's hash (64 zeros for an empty chain): keep it, and a later rewrite of the chain cannot match it" }),
    verified: z.boolean(),
    broken_at: auditBreakSchema.nullable(),
  })
  .meta({ id: 'AuditChain' });
