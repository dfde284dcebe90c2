import fc from 'fast-check';

/** A contract's settings for one run of the model test. */
export interface RunConfig {
  awardMode: 'auto' | 'manual';
  maxReawards: 0 | 1;
  /** Agent S has a binary: the workflow runs it in the sandbox instead of waiting for a delivery. */
  sandbox: boolean;
  /** What the card hold answers: requires_action waits for Stripe's webhook (3-D Secure). */
  payment: 'authorized' | 'requires_action';
  /** The hold must be captured 1 h after it was made (a card hold lapses): early capture. */
  earlyCapture: boolean;
  /** The run may restart its worker; it uses the replaying task queue (see queues.ts). */
  restartable: boolean;
  /** Agents A, then B, bid before the generated moves (S, then A, in sandbox runs). */
  openingBids: number;
}

/** Mostly `usual`, now and then one of `rare`. */
export const mostly = <T>(usual: T, ...rare: T[]) => fc.oneof({ weight: 5, arbitrary: fc.constant(usual) }, { weight: 1, arbitrary: fc.constantFrom(...rare) });

export const runConfig: fc.Arbitrary<RunConfig> = fc.record({
  awardMode: fc.constantFrom<RunConfig['awardMode']>('auto', 'manual'),
  maxReawards: fc.constantFrom<RunConfig['maxReawards']>(0, 1),
  sandbox: fc.boolean(),
  payment: mostly<RunConfig['payment']>('authorized', 'requires_action'),
  earlyCapture: fc.boolean(),
  // Restarts cost a second each (a worker starts), so a sixth of the runs have them.
  restartable: mostly(false, true),
  openingBids: fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 4, arbitrary: fc.constantFrom(1, 2) }),
});
