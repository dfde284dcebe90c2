import type { Knex } from 'knex';
import { Model } from 'objection';
import type { AcceptanceRow, Validation } from '../domain/acceptance';
import type { Award } from '../domain/contract-types';
import type { DeliveryEncoding } from '../domain/execution';
import type { RankedBid } from '../domain/ranking';
import type { TaskOutcome, TaskStatus } from '../domain/statuses';

// Objection models mirror the tables column for column (snake_case, as the API speaks).
// They are bound to a knex instance by createModels, never globally.

export class User extends Model {
  static override tableName = 'users';
  id!: string;
  email!: string;
  password_hash!: string;
  name!: string;
  stripe_customer_id!: string | null;
  created_at!: Date;
  updated_at!: Date;
  deleted_at!: Date | null;
}

export class Agent extends Model {
  static override tableName = 'agents';
  id!: string;
  owner_id!: string;
  name!: string;
  description!: string;
  version!: string;
  capabilities!: string[];
  status!: 'active' | 'inactive' | 'suspended';
  price_cents!: number;
  binary_url!: string | null;
  binary_hash!: string | null;
  binary_size!: number | null;
  tasks_completed!: number;
  rating!: number | null;
  last_seen_at!: Date | null;
  created_at!: Date;
  updated_at!: Date;
  deleted_at!: Date | null;
}

export class ApiKey extends Model {
  static override tableName = 'api_keys';
  id!: string;
  agent_id!: string;
  key_hash!: string;
  key_prefix!: string;
  name!: string;
  last_used_at!: Date | null;
  revoked_at!: Date | null;
  created_at!: Date;
}

export class Bid extends Model {
  static override tableName = 'bids';
  id!: string;
  contract_id!: string;
  agent_id!: string;
  price_cents!: number;
  eta_seconds!: number;
  confidence!: number;
  message!: string | null;
  status!: 'active' | 'awarded' | 'lost' | 'withdrawn';
  revision!: number;
  /** The bid's place in the award's ranking, stored in the workflow's own (camelCase) shape. */
  score!: RankedBid | null;
  created_at!: Date;
  updated_at!: Date;
}

export class Delivery extends Model {
  static override tableName = 'deliveries';
  id!: string;
  contract_id!: string;
  agent_id!: string;
  bid_id!: string;
  attempt!: number;
  source!: 'agent' | 'sandbox';
  output!: unknown;
  output_encoding!: DeliveryEncoding;
  status!: 'pending_review' | 'accepted' | 'rejected';
  rating!: number | null;
  review_comment!: string | null;
  /** The acceptance checks' result (domain/acceptance.ts); null until they ran, or without checks. */
  validation!: Validation | null;
  is_validated!: boolean;
  delivered_at!: Date;
  reviewed_at!: Date | null;
  created_at!: Date;
  updated_at!: Date;
}

export class Contract extends Model {
  static override tableName = 'contracts';
  id!: string;
  user_id!: string;
  workflow_id!: string;
  intent!: string;
  context!: unknown;
  required_capabilities!: string[];
  reward_cents!: number;
  currency!: string;
  status!: string;
  award_mode!: 'auto' | 'manual';
  filters!: Record<string, unknown>;
  weights!: Record<string, number>;
  bidding_deadline!: Date;
  delivery_window_seconds!: number;
  review_window_seconds!: number;
  delivery_deadline!: Date | null;
  review_deadline!: Date | null;
  awarded_bid_id!: string | null;
  awarded_agent_id!: string | null;
  awarded_price_cents!: number | null;
  /** The award as the workflow made it, in its own (camelCase) shape; api/serializers.ts converts. */
  award!: Award | null;
  /** The checks every delivery must pass, as the API shows them; null without. */
  acceptance!: AcceptanceRow | null;
  failure_reason!: string | null;
  status_detail!: string | null;
  rating!: number | null;
  awarded_at!: Date | null;
  delivered_at!: Date | null;
  closed_at!: Date | null;
  created_at!: Date;
  updated_at!: Date;
  deleted_at!: Date | null;
  bids?: Bid[];
  deliveries?: Delivery[];

  static override get relationMappings() {
    return {
      bids: { relation: Model.HasManyRelation, modelClass: Bid, join: { from: 'contracts.id', to: 'bids.contract_id' } },
      deliveries: {
        relation: Model.HasManyRelation,
        modelClass: Delivery,
        join: { from: 'contracts.id', to: 'deliveries.contract_id' },
      },
    };
  }
}

export class UserPreference extends Model {
  static override tableName = 'user_preferences';
  static override idColumn = 'user_id';
  user_id!: string;
  weight_price_bps!: number;
  weight_performance_bps!: number;
  weight_speed_bps!: number;
  weight_reputation_bps!: number;
  default_filters!: Record<string, unknown>;
  created_at!: Date;
  updated_at!: Date;
}

export class AgentMetric extends Model {
  static override tableName = 'agent_metrics';
  id!: string;
  agent_id!: string;
  contract_id!: string | null;
  outcome!: 'success' | 'failure';
  failure_reason!: string | null;
  promised_eta_seconds!: number | null;
  actual_seconds!: number | null;
  rating!: number | null;
  price_cents!: number;
  execution_ms!: number | null;
  fuel_consumed!: number | null;
  recorded_at!: Date;
}

export class Payment extends Model {
  static override tableName = 'payments';
  id!: string;
  contract_id!: string;
  user_id!: string;
  agent_id!: string | null;
  stripe_payment_intent_id!: string;
  idempotency_key!: string;
  amount_cents!: number;
  captured_cents!: number;
  currency!: string;
  status!: string;
  last_error!: string | null;
  created_at!: Date;
  updated_at!: Date;
}

export class AgentBinary extends Model {
  static override tableName = 'agent_binaries';
  id!: string;
  agent_id!: string;
  version!: string;
  sha256!: string;
  size_bytes!: number;
  url!: string;
  uploaded_by!: string;
  created_at!: Date;
}

export class Task extends Model {
  static override tableName = 'tasks';
  id!: string;
  owner_id!: string;
  agent_id!: string;
  input!: unknown;
  status!: TaskStatus;
  timeout_seconds!: number | null;
  binary_hash!: string | null;
  workflow_id!: string | null;
  started_at!: Date | null;
  finished_at!: Date | null;
  created_at!: Date;
  updated_at!: Date;
}

export class TaskResult extends Model {
  static override tableName = 'task_results';
  id!: string;
  agent_id!: string;
  contract_id!: string | null;
  task_id!: string | null;
  /** The contract's award round; with the activity attempt, the run's key. */
  round!: number;
  attempt!: number;
  outcome!: TaskOutcome;
  exit_code!: number | null;
  /** The guest's output, byte for byte (bytea); hash and length are generated by Postgres. */
  stdout!: Buffer | null;
  stdout_sha256!: string | null;
  stdout_bytes!: number | null;
  stderr!: Buffer | null;
  stderr_sha256!: string | null;
  stderr_bytes!: number | null;
  duration_ms!: number | null;
  fuel_consumed!: number | null;
  /** CPU time of the run in microseconds (its cost whatever the metering). */
  cpu_time_us!: number | null;
  error!: string | null;
  created_at!: Date;
}

const all = {
  User,
  Agent,
  ApiKey,
  Bid,
  Delivery,
  Contract,
  UserPreference,
  AgentMetric,
  Payment,
  AgentBinary,
  Task,
  TaskResult,
};
export type Models = { [K in keyof typeof all]: (typeof all)[K] };

export function createModels(knex: Knex): Models {
  return Object.fromEntries(Object.entries(all).map(([k, m]) => [k, m.bindKnex(knex)])) as unknown as Models;
}
