import { z } from 'zod';

// Parse and throw the ZodError on failure; the error middleware turns it into a 400 that
// names the field.
export function parse<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  return schema.parse(input ?? {});
}

export const uuid = z.uuid();
const idParam = z.object({ id: uuid });
/** A route's `:id`: a 400 that names the field `id` when it is not a UUID. */
export const pathId = (raw: string | undefined): string => idParam.parse({ id: raw }).id;
// RFC 5321 allows at most 64 characters before the @, as JSON Schema's `email` format does.
export const email = z
  .email()
  .max(254)
  .refine((e) => e.lastIndexOf('@') <= 64, 'at most 64 characters before the @');
// Query parameters and form fields arrive as text; only an integer's digits make a number
// here. (z.coerce.number() would also read '' and ' ' as 0, '1e3' as 1000 and '0x10' as 16,
// none of which the document's `integer` allows.)
export const intFromText = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v), schema);

export const cents = z.number().int().min(0).max(100_000_000_000);
// Text that must say something is trimmed, then at least one character long. JSON Schema's
// minLength cannot say that "\v" is blank; this pattern (a character trim() keeps) says it in
// the OpenAPI document, so a client generating valid input does not send blanks.
export const NOT_BLANK = /[^\s\uFEFF]/;
const notBlank = 'must not be blank';

export const capabilities = z.array(z.string().max(64).trim().toLowerCase().min(1).regex(NOT_BLANK, notBlank)).max(50);
