import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

// Custom search attributes that make contracts filterable in the Temporal UI, e.g.
//   HermesStatus = 'SETTLED' AND HermesRewardCents > 1000
// They are registered by `temporal server start-dev --search-attribute ...` (scripts/services.sh).
export const HermesStatus = defineSearchAttributeKey('HermesStatus', SearchAttributeType.KEYWORD);
export const HermesUserId = defineSearchAttributeKey('HermesUserId', SearchAttributeType.KEYWORD);
export const HermesAgentId = defineSearchAttributeKey('HermesAgentId', SearchAttributeType.KEYWORD);
export const HermesRewardCents = defineSearchAttributeKey('HermesRewardCents', SearchAttributeType.INT);

export const HERMES_SEARCH_ATTRIBUTES = [HermesStatus, HermesUserId, HermesAgentId, HermesRewardCents] as const;
