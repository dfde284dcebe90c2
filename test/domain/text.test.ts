import { describe, expect, it } from 'vitest';
import { deliveryFromStdout } from '../../domain/execution';
import { MAX_JSON_DEPTH, findTextProblem, isStorable } from '../../domain/text';

describe('the text rule', () => {
  it('accepts ordinary text, emoji (surrogate pairs) and JSON nested up to the limit', () => {
    expect(findTextProblem({ a: ['héllo 🎉', 1, null, true], 'ключ': { b: 'x' } })).toBeNull();
    let nested: unknown = 'leaf';
    for (let i = 0; i < MAX_JSON_DEPTH; i++) nested = [nested];
    expect(findTextProblem(nested)).toBeNull();
  });

  it('names the path of a NUL, a lone surrogate, a bad key, or nesting too deep', () => {
    expect(findTextProblem({ context: { docs: [{ t: 'a\u0000' }] } })).toEqual({ field: 'context.docs.0.t', message: expect.stringMatching(/NUL/) });
    expect(findTextProblem({ s: 'x\ud800' })?.field).toBe('s');
    expect(findTextProblem({ s: '\udc00x' })?.field).toBe('s');
    expect(findTextProblem({ s: 'ok\ud83c\udf89' })).toBeNull();
    expect(findTextProblem({ o: { ['k\u0000']: 1 } })).toEqual({ field: 'o.k\\u0000', message: expect.stringMatching(/^key /) });
    expect(findTextProblem('a\u0000', 'path')?.field).toBe('path');
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findTextProblem({ d: deep })?.message).toMatch(/nest at most/);
  });
});

describe('a sandbox delivery', () => {
  const text = (stdout: string) => deliveryFromStdout(stdout, 'utf8');
  it('is the parsed JSON when it can be stored, else the text exactly as printed, else the bytes in base64', () => {
    expect(text(' {"words": 3}\n')).toEqual({ output: { words: 3 }, outputEncoding: 'json' });
    // Text is kept as printed: its spaces and newline are the agent's.
    expect(text('  plain words\n')).toEqual({ output: '  plain words\n', outputEncoding: 'text' });
    // JSON escapes can spell what Postgres cannot hold; such output stays text.
    expect(text('{"x":"\\u0000"}')).toEqual({ output: '{"x":"\\u0000"}', outputEncoding: 'text' });
    expect(text('"\\ud800"')).toEqual({ output: '"\\ud800"', outputEncoding: 'text' });
    expect(isStorable(text('['.repeat(50) + ']'.repeat(50)).output)).toBe(true);
    expect(deliveryFromStdout('YQBi//4=', 'base64')).toEqual({ output: 'YQBi//4=', outputEncoding: 'base64' });
  });

  it('is kept as text when reading it as JSON would change a number', () => {
    const text = (stdout: string) => deliveryFromStdout(stdout, 'utf8');
    expect(text('{"id": 9007199254740993}')).toEqual({ output: '{"id": 9007199254740993}', outputEncoding: 'text' });
    expect(text('{"total": 1e400}')).toEqual({ output: '{"total": 1e400}', outputEncoding: 'text' });
    // Integers a double holds exactly, however large, and decimal fractions are JSON as usual.
    expect(text('{"n": 100000000000000000000, "x": 0.1, "big": 9007199254740992}')).toEqual({ output: { n: 1e20, x: 0.1, big: 9007199254740992 }, outputEncoding: 'json' });
  });
});
