// @hermes/agent-sdk: the public API. Everything else under src/ is internal.
export { HermesAgent, HermesApiError } from './agent.js';
export type {
  AcceptedBid,
  ApiError,
  BidAnswer,
  BidOptions,
  Conversation,
  DeliveryReceipt,
  ErrorCode,
  HermesAgentOptions,
  Message,
  MessageType,
  OpenContract,
} from './agent.js';
export type { A2AClosed, A2AMessage, AgentEvents, Awarded, ContractEnded, ContractOffer, EventsGap } from './events.js';
/** Every HTTP body of the Hermes API, generated from its OpenAPI document. */
export type { components, operations, paths } from './api-types.js';
