// The API's one casing: every key of every JSON body and event payload is snake_case
// (lowercase words and digits joined by underscores: `price_cents`, `stdout_sha256`, `last4`).

const SNAKE_CASE = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;

export const isSnakeCase = (key: string) => SNAKE_CASE.test(key);

/**
 * Every key in a JSON value, at any depth, that is not snake_case, as a path from `root`
 * (`$.award.detail.ranking[0].bidId`). `allowed` names keys a protocol fixes otherwise.
 */
export function nonSnakeKeys(value: unknown, root = '$', allowed: ReadonlySet<string> = new Set()): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => nonSnakeKeys(v, `${root}[${i}]`, allowed));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => [
    ...(isSnakeCase(k) || allowed.has(k) ? [] : [`${root}.${k}`]),
    ...nonSnakeKeys(v, `${root}.${k}`, allowed),
  ]);
}
