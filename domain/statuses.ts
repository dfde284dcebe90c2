// Enumerations shared by the database schema, the workflow and the API.
export const CONTRACT_STATUSES = ['BIDDING', 'AWARDED', 'IN_PROGRESS', 'DELIVERED', 'SETTLED', 'EXPIRED', 'CANCELLED', 'FAILED'] as const;
export type ContractStatus = (typeof CONTRACT_STATUSES)[number];
export const TERMINAL_STATUSES: readonly ContractStatus[] = ['SETTLED', 'EXPIRED', 'CANCELLED', 'FAILED'];
// A user may cancel until the agent has delivered.
export const CANCELLABLE_STATUSES: readonly ContractStatus[] = ['BIDDING', 'AWARDED', 'IN_PROGRESS'];

export const AWARD_MODES = ['auto', 'manual'] as const;
export type AwardMode = (typeof AWARD_MODES)[number];

export const AGENT_STATUSES = ['active', 'inactive', 'suspended'] as const;
export const BID_STATUSES = ['active', 'awarded', 'lost', 'withdrawn'] as const;
export const DELIVERY_SOURCES = ['agent', 'sandbox'] as const;
export const DELIVERY_STATUSES = ['pending_review', 'accepted', 'rejected'] as const;
export const PAYMENT_STATUSES = ['authorized', 'requires_action', 'captured', 'voided', 'refunded', 'failed', 'disputed'] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];
export const LEDGER_ACCOUNTS = ['user_escrow', 'agent_wallet', 'platform_revenue', 'stripe_clearing'] as const;
export type LedgerAccount = (typeof LEDGER_ACCOUNTS)[number];
/** What a payments row went through, in order; each is one payment_events row. */
export const PAYMENT_EVENT_KINDS = ['requires_action', 'authorized', 'captured', 'voided', 'refunded', 'disputed', 'failed'] as const;
export type PaymentEventKind = (typeof PAYMENT_EVENT_KINDS)[number];
export const WITHDRAWAL_STATUSES = ['pending', 'paid', 'failed'] as const;
export type WithdrawalStatus = (typeof WITHDRAWAL_STATUSES)[number];
export const METRIC_OUTCOMES = ['success', 'failure'] as const;
export const TASK_OUTCOMES = ['ok', 'exit_nonzero', 'trap', 'fuel_exhausted', 'timeout', 'memory_limit', 'output_limit', 'cancelled', 'error'] as const;
export type TaskOutcome = (typeof TASK_OUTCOMES)[number];
export const TASK_STATUSES = ['pending', 'running', 'succeeded', 'failed'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const CONVERSATION_STATUSES = ['open', 'closed'] as const;
export const MESSAGE_TYPES = ['text', 'question', 'answer', 'proposal', 'artifact', 'system'] as const;

// Why a contract ended in FAILED.
// system_error: a write or payment call kept failing past its retry bound (see workflows/activity-options.ts).
// validation_failed: the delivery failed the contract's acceptance checks (domain/acceptance.ts).
export const FAILURE_REASONS = ['payment_failed', 'delivery_missed', 'execution_failed', 'rejected', 'system_error', 'validation_failed'] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];
