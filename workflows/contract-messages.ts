import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  BidRequest,
  BidView,
  ContractInput,
  ContractOutcome,
  ContractState,
  DeliveryRequest,
  DeliveryView,
  PaymentSignal,
} from '../domain/contract-types';

// The contract workflow's messages: what the API, the tests and the workflow share. This file
// holds definitions only, so importing it does not pull in workflow code.

export interface Caller {
  userId: string;
}

/** The workflow type name, for starting a contract without importing the workflow. */
export const CONTRACT_WORKFLOW = 'contractWorkflow';
export type ContractWorkflow = (input: ContractInput) => Promise<ContractOutcome>;

export const submitBid = defineUpdate<BidView, [BidRequest]>('submitBid');
export const closeBidding = defineUpdate<ContractState, [Caller]>('closeBidding');
export const award = defineUpdate<ContractState, [Caller & { bidId: string }]>('award');
export const deliver = defineUpdate<DeliveryView, [DeliveryRequest]>('deliver');
export const accept = defineUpdate<ContractState, [Caller & { rating: number; comment?: string }]>('accept');
export const reject = defineUpdate<ContractState, [Caller & { reason: string }]>('reject');
// An update rather than a signal, so the user learns at once whether the cancel took.
export const cancel = defineUpdate<ContractState, [Caller & { reason?: string }]>('cancel');
// Answers once the contract's row exists (the API starts the workflow with this update), so
// a 201 from POST /contracts means every read and bid already sees the contract.
export const created = defineUpdate<ContractState>('created');
export const getState = defineQuery<ContractState>('getState');
// Stripe webhooks about this contract's PaymentIntent, routed by the API.
export const paymentEvent = defineSignal<[PaymentSignal]>('paymentEvent');
