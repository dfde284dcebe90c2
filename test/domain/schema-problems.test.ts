import { describe, expect, it } from 'vitest';
import { schemaProblems } from '../../lib/acceptance';

// The acceptance checks' output_schema is refused at creation with a message a user can act on.
describe('an output_schema', () => {
  it('that is a usable draft 2020-12 schema has no problems', () => {
    expect(schemaProblems({ type: 'object', required: ['summary'], properties: { summary: { type: 'string', format: 'email' } } })).toBeNull();
    expect(schemaProblems({ $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'string' })).toBeNull();
  });

  it('that declares another draft is refused, saying which one is supported', () => {
    expect(schemaProblems({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'string' })).toEqual([
      { path: '/$schema', message: expect.stringMatching(/only JSON Schema draft 2020-12 is supported/) },
    ]);
  });

  it('with an unknown format is refused, and the message says so rather than "ignored"', () => {
    const [problem] = schemaProblems({ type: 'string', format: 'ssn' })!;
    expect(problem!.message).toMatch(/^unknown format "ssn" at #: the known formats are/);
    expect(problem!.message).not.toMatch(/ignored/);
  });

  it('that is not an object is refused', () => {
    expect(schemaProblems(true)).toEqual([{ path: '', message: 'must be a JSON Schema object' }]);
  });
});
