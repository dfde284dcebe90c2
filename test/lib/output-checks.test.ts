import { afterAll, describe, expect, it } from 'vitest';
import { createOutputChecks } from '../../lib/output-checks';

// A definition with many properties, referenced many times: ajv used to copy it into every
// reference (8 KB of schema compiled for 20 s into 13 MB of code); refs are calls now, and the
// compile runs in a thread with a deadline either way.
const refBomb = (props: number, refs: number) => ({
  $defs: { a: { type: 'object', properties: Object.fromEntries(Array.from({ length: props }, (_, i) => [`p${i}`, { type: 'string' }])) } },
  allOf: Array.from({ length: refs }, () => ({ $ref: '#/$defs/a' })),
});

describe("a contract's output_schema, tried off the event loop", () => {
  const checks = createOutputChecks({ timeoutMs: 10_000 });
  const hurried = createOutputChecks({ timeoutMs: 1 });
  afterAll(async () => {
    await checks.close();
    await hurried.close();
  });

  it('compiles a schema that references one large definition many times, and checks outputs with it', async () => {
    const schema = refBomb(100, 206);
    expect(await checks.problems(schema)).toBeNull();
    expect(await checks.check(schema, { p0: 'x' })).toMatchObject({ status: 'passed' });
    expect(await checks.check(schema, { p0: 1 })).toMatchObject({ status: 'failed' });
  });

  it('names the problems of a schema that is not one', async () => {
    expect(await checks.problems({ type: 'objec' })).toContainEqual(expect.objectContaining({ path: '/type', message: expect.stringMatching(/must be equal to one of the allowed values/) }));
  });

  it('refuses a schema whose compile outlasts the deadline as too complex, and the next one is tried afresh', async () => {
    expect(await hurried.problems(refBomb(300, 400))).toEqual([{ path: '', message: expect.stringMatching(/^the schema is too complex: compiling it did not finish within 1 ms/) }]);
    expect(await checks.problems({ type: 'string' })).toBeNull();
  });
});
