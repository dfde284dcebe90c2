import { describe, expect, it } from 'vitest';
import { exactText, outputText } from '../../domain/execution';
import { isStorable } from '../../domain/text';

// A guest's output bytes: exact text only when it is exactly those bytes; otherwise the text
// the workflow gets is sanitised (and the API shows the bytes in base64).
const bytes = (...b: number[]) => Buffer.from(b);

describe('output as text', () => {
  it('is exact for UTF-8 without NUL, byte-order mark and all', () => {
    for (const s of ['', 'hello\n', '{"é":"✓"} 🎉', '\uFEFFwarn', 'tab\tand\u0001control']) {
      expect(exactText(Buffer.from(s, 'utf8'))).toBe(s);
      expect(outputText(Buffer.from(s, 'utf8'))).toBe(s);
    }
  });

  it('is not exact for NUL, invalid UTF-8, encoded surrogates or overlong forms', () => {
    for (const b of [bytes(0x61, 0x00), bytes(0xff), bytes(0xc3), bytes(0xed, 0xa0, 0x80), bytes(0xc0, 0xaf)]) {
      expect(exactText(b)).toBeNull();
      expect(isStorable(outputText(b))).toBe(true);
    }
  });

  it('sanitises NUL and invalid bytes to U+FFFD for the workflow', () => {
    expect(outputText(bytes(0x61, 0x00, 0x62, 0xff, 0xfe))).toBe('a\uFFFDb\uFFFD\uFFFD');
    expect(outputText(Buffer.concat([Buffer.from('\uFEFFok '), bytes(0xed, 0xa0, 0x80)]))).toMatch(/^\uFEFFok \uFFFD+$/);
  });
});
