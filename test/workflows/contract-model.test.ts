import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { checkAnswer, checkRun } from '../support/contract-model/checks';
import { ModelHarness } from '../support/contract-model/harness';
import { initialModel } from '../support/contract-model/model';
import { placeOpeningBids, scenario } from '../support/contract-model/scenario';

// A model-based test of the contract workflow. Each run drives one contract on the time-skipping
// server through a random interleaving of every actor's moves — bids (replaced, invalid), close,
// manual award, deliveries (by the awarded agent, another, one that runs in the sandbox),
// reviews, cancels, Stripe webhooks, deadlines passing, retries with the same update id, calls
// that commit but answer late, worker restarts and a request lost with its worker — and checks
// after every answer and once time has run until the contract closed the properties in
// test/support/contract-model/properties.ts. A failure prints the shrunk moves as the
// counterexample and, in its error, what each step was answered.
const RUNS = Number(process.env.CONTRACT_MODEL_RUNS ?? 300);

const harness = new ModelHarness();
beforeAll(() => harness.start());
afterAll(() => harness.stop());

it(`keeps every answer true and the money balanced over ${RUNS} random interleavings`, async () => {
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(scenario, async ([config, moves]) => {
      runs++;
      const run = await harness.begin(config);
      run.onAnswer = checkAnswer;
      try {
        const model = initialModel(config);
        await placeOpeningBids(model, run);
        await fc.asyncModelRun(() => ({ model, real: run }), moves);
        await checkRun(run, await run.finish());
      } finally {
        await harness.end(run);
      }
    }),
    // A failure shrinks run by run: bounded, so a broken workflow still reports in minutes.
    { numRuns: RUNS, interruptAfterTimeLimit: 12 * 60_000, markInterruptAsFailure: true },
  );
  expect(runs).toBe(RUNS);
}, 15 * 60_000);
