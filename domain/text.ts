// The one rule for text that reaches Postgres: every string, JSON object key included, is
// well-formed Unicode without NUL, and JSON nests at most MAX_JSON_DEPTH levels. Postgres
// text and jsonb cannot hold U+0000 or a lone surrogate; deep nesting costs stack in every
// layer that walks it. Pure, so the API (at the boundary) and workflows (on sandbox output)
// apply the same rule.

export const MAX_JSON_DEPTH = 32;

export interface TextProblem {
  /** Where, as a dotted path from the root (`context.items.3.name`); '' for the root itself. */
  field: string;
  message: string;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why a string cannot be stored, or null when it can. */
export function textProblem(s: string): string | null {
  if (s.includes('\u0000')) return 'must not contain NUL (\\u0000) characters';
  if (LONE_SURROGATE.test(s)) return 'must be valid Unicode (it holds a lone surrogate)';
  return null;
}

// A key that is itself bad is shown escaped, so the error message stays printable JSON.
const shown = (key: string) => (textProblem(key) ? JSON.stringify(key).slice(1, -1).replace(/\u0000/g, '\\u0000') : key);
const join = (path: string, key: string | number) => (path ? `${path}.${key}` : String(key));

/**
 * The first problem in a JSON-like value (strings, keys, depth), or null. Iterative, so a
 * hostile 100,000-level document costs no stack here.
 */
export function findTextProblem(value: unknown, root = '', maxDepth = MAX_JSON_DEPTH): TextProblem | null {
  const stack: Array<[unknown, string, number]> = [[value, root, 0]];
  while (stack.length) {
    const [v, path, depth] = stack.pop()!;
    if (typeof v === 'string') {
      const why = textProblem(v);
      if (why) return { field: path, message: why };
    } else if (v !== null && typeof v === 'object') {
      if (depth >= maxDepth) return { field: path, message: `JSON may nest at most ${maxDepth} levels` };
      if (Array.isArray(v)) {
        for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], join(path, i), depth + 1]);
      } else {
        for (const [k, child] of Object.entries(v)) {
          const why = textProblem(k);
          if (why) return { field: join(path, shown(k)), message: `key ${why}` };
          stack.push([child, join(path, k), depth + 1]);
        }
      }
    }
  }
  return null;
}

/** Whether a value can be stored as it is (as text or jsonb). */
export const isStorable = (value: unknown) => findTextProblem(value) === null;
