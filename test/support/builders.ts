import { randomUUID } from 'node:crypto';
import type { BidRequest, ContractInput } from '../../domain/contract-types';
import { DEFAULT_WEIGHTS } from '../../domain/weights';

export function contractInput(overrides: Partial<ContractInput> = {}): ContractInput {
  return {
    contractId: randomUUID(),
    userId: randomUUID(),
    intent: 'Summarise these 40 PDFs',
    context: { documents: 40 },
    requiredCapabilities: [],
    rewardCents: 10_000,
    currency: 'usd',
    awardMode: 'auto',
    filters: {},
    weights: { ...DEFAULT_WEIGHTS },
    biddingWindowSeconds: 3600,
    deliveryWindowSeconds: 86_400,
    reviewWindowSeconds: 72 * 3600,
    awardWindowSeconds: 72 * 3600,
    ...overrides,
  };
}

export function bid(overrides: Partial<BidRequest> = {}): BidRequest {
  return { agentId: randomUUID(), priceCents: 5_000, etaSeconds: 600, confidence: 0.8, ...overrides };
}
