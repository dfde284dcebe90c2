import { z } from 'zod';
import { ON_PASS } from '../../domain/acceptance';
import { AWARD_MODES, CONTRACT_STATUSES } from '../../domain/statuses';
import { BPS } from '../../domain/weights';
import { capabilities, cents, intFromText, NOT_BLANK, uuid } from '../validate';

const DAY = 86_400;

export const filtersSchema = z.strictObject({
  max_price_cents: cents.optional(),
  min_confidence: z.number().min(0).max(1).optional(),
  max_latency_seconds: z.number().int().positive().optional(),
  min_reputation: z.number().min(0).max(1).optional(),
  free_only: z.boolean().optional(),
});

const bps = z.number().int().min(0).max(BPS);
export const weightsSchema = z
  .strictObject({ price: bps, performance: bps, speed: bps, reputation: bps })
  .refine((w) => w.price + w.performance + w.speed + w.reputation === BPS, `weights are basis points and must sum to ${BPS}`);

// Acceptance checks (README, "Acceptance checks"): the schema itself is checked with ajv and the
// verifier's ownership in the route (api/acceptance.ts).
export const acceptanceBody = z
  .strictObject({
    output_schema: z
      .record(z.string(), z.unknown(), { error: 'must be a JSON Schema object (for the boolean schemas, {} accepts anything and {"not": {}} nothing)' })
      .optional()
      .meta({ description: 'a JSON Schema (draft 2020-12) every delivery output must satisfy; checked at creation' }),
    verifier_id: uuid.optional().meta({ description: 'a verifier you uploaded (POST /verifiers): run in the sandbox on every delivery; exit 0 passes' }),
    on_pass: z.enum(ON_PASS).default('review').meta({ description: 'settle: a delivery that passes is accepted at once; review: you still review it' }),
  })
  .refine((a) => a.output_schema !== undefined || a.verifier_id !== undefined, 'give output_schema, verifier_id or both');

export const createContract = z.strictObject({
  intent: z.string().max(10_000).trim().min(1).regex(NOT_BLANK, 'must not be blank'),
  context: z.record(z.string(), z.unknown()).default({}),
  required_capabilities: capabilities.default([]),
  reward_cents: cents,
  currency: z.string().toLowerCase().regex(/^[a-z]{3}$/, 'an ISO 4217 code such as usd').optional(),
  award_mode: z.enum(AWARD_MODES).default('auto'),
  filters: filtersSchema.optional(),
  // Overrides the user's saved preferences for this contract only.
  weights: weightsSchema.optional(),
  bidding_window_seconds: z.number().int().min(1).max(30 * DAY).default(3600),
  delivery_window_seconds: z.number().int().min(1).max(90 * DAY).default(DAY),
  review_window_seconds: z.number().int().min(1).max(30 * DAY).optional(),
  award_window_seconds: z.number().int().min(1).max(30 * DAY).optional(),
  max_reawards: z.number().int().min(0).max(10).optional(),
  acceptance: acceptanceBody.optional(),
});

export const listContracts = z.strictObject({
  status: z.enum(CONTRACT_STATUSES).optional(),
  limit: intFromText(z.number().int().min(1).max(100)).default(20),
  cursor: z.string().max(200).optional(),
});

export const awardBody = z.strictObject({ bid_id: uuid });
export const acceptBody = z.strictObject({ rating: z.number().int().min(1).max(5), comment: z.string().max(2000).optional() });
export const rejectBody = z.strictObject({ reason: z.string().max(2000).trim().min(1).regex(NOT_BLANK, 'must not be blank') });
export const cancelBody = z.strictObject({ reason: z.string().max(2000).trim().optional() });

export const bidBody = z.strictObject({
  contract_id: uuid,
  price_cents: cents,
  eta_seconds: z.number().int().positive().max(90 * DAY),
  confidence: z.number().min(0).max(1),
  message: z.string().max(2000).optional(),
  replace: z.boolean().default(false),
});

export const deliverBody = z.strictObject({
  contract_id: uuid,
  output: z.unknown().refine((v) => v !== undefined, 'output is required'),
});
