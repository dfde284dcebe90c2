import type { ContractRun } from './contract-run';

// The properties the model test holds the contract workflow to. A failure names its property
// first, so a report says at once which one broke, then how, then what each step was answered.
export const PROPERTIES = {
  truthful: 'the answer matches what the workflow did',
  reviewWhileDelivered: 'a review sent while the contract shows DELIVERED is never refused',
  sandboxDelivery: 'an agent that runs in the sandbox cannot deliver by hand',
  retry: 'a retried request gets the answer of the first',
  terminal: 'the contract ends terminal',
  money: 'money balanced',
  blame: "a failure counts against an agent only when it was the agent's doing",
} as const;

export class Violation extends Error {}

export function violation(run: ContractRun, property: keyof typeof PROPERTIES, detail: string): never {
  throw new Violation(`${PROPERTIES[property]}: ${detail}\n  what happened:\n    ${run.log.join('\n    ')}`);
}
