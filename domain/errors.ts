// The one list of caller-visible error codes. Workflow validators throw ApplicationFailures
// whose `type` is one of these; the API maps them to HTTP statuses from here.
export const ERROR_STATUS = {
  VALIDATION_ERROR: 400,
  INVALID_CURSOR: 400,
  PRICE_ABOVE_REWARD: 400,
  INVALID_MODULE: 400,
  INVALID_SIGNATURE: 400,
  INSUFFICIENT_FUNDS: 409,
  PAYOUT_ACCOUNT_REQUIRED: 409,
  UNAUTHENTICATED: 401,
  PAYMENT_DECLINED: 402,
  INVALID_CREDENTIALS: 401,
  FORBIDDEN: 403,
  NOT_AWARDED_AGENT: 403,
  AGENT_INACTIVE: 403,
  CAPABILITY_MISMATCH: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  BID_NOT_FOUND: 404,
  EMAIL_TAKEN: 409,
  BIDDING_CLOSED: 409,
  DUPLICATE_BID: 409,
  INVALID_STATE: 409,
  CONTRACT_CLOSED: 409,
  NO_BINARY: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  IDEMPOTENCY_KEY_REUSED: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export function isErrorCode(x: unknown): x is ErrorCode {
  return typeof x === 'string' && Object.hasOwn(ERROR_STATUS, x);
}
