import type { components } from './api-types.js';

// The Socket.IO events an agent receives, as the server sends them (db/contract-transition.ts,
// activities/contracts.ts and api/routes/a2a.ts in the Hermes repository). The OpenAPI
// document describes HTTP only, so these are copied here; the repository's realtime and
// packed-SDK tests use them against the real server.

/** Every event names itself and carries its stream id, which only increases. */
interface EventMeta<E extends string> {
  event: E;
  /** Resume point and dedupe key ("<ms>-<seq>"). */
  event_id: string;
}

/** contract:new: a contract this agent may bid on opened (it holds every required capability). */
export interface ContractOffer extends EventMeta<'contract:new'> {
  contract_id: string;
  intent: string;
  required_capabilities: string[];
  reward_cents: number;
  currency: string;
  /** ISO 8601. */
  bidding_deadline: string;
}

/** contract:awarded: this agent won; its escrow is held and work can start. */
export interface Awarded extends EventMeta<'contract:awarded'> {
  contract_id: string;
  bid_id: string;
  price_cents: number;
  /** Deliver before this (ISO 8601). */
  delivery_deadline: string;
}

/** contract:cancelled / contract:closed: a contract this agent bid on ended. */
export interface ContractEnded<E extends 'contract:cancelled' | 'contract:closed'> extends EventMeta<E> {
  contract_id: string;
  status: string;
}

export type A2AMessage = components['schemas']['Message'] & EventMeta<'a2a:message'>;

export interface A2AClosed extends EventMeta<'a2a:closed'> {
  conversation_id: string;
  closed_by: string;
}

/**
 * events:gap: the agent reconnected after more than the server retains; what it missed in
 * between is lost, so reload state over HTTP (`openContracts()`). Not an event itself: no id.
 */
export interface EventsGap {
  last_event_id: string;
  oldest_retained?: string;
  reason?: string;
}

export interface AgentEvents {
  'contract:new': ContractOffer;
  'contract:awarded': Awarded;
  'contract:cancelled': ContractEnded<'contract:cancelled'>;
  'contract:closed': ContractEnded<'contract:closed'>;
  'a2a:message': A2AMessage;
  'a2a:closed': A2AClosed;
  'events:gap': EventsGap;
}

export const AGENT_EVENTS = ['contract:new', 'contract:awarded', 'contract:cancelled', 'contract:closed', 'a2a:message', 'a2a:closed'] as const;

/** Orders stream ids ("<ms>-<seq>"): the resume point is the largest one handled. */
export function compareEventIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}
