import Router from '@koa/router';
import { z } from 'zod';
import { hashPassword, verifyPassword } from '../credentials';
import { HttpError } from '../errors';
import type { ApiDeps } from '../deps';
import { email, NOT_BLANK, parse } from '../validate';

export const register = z.strictObject({
  email,
  password: z.string().min(10, 'must be at least 10 characters').max(200),
  name: z.string().max(100).trim().min(1).regex(NOT_BLANK, 'must not be blank'),
});
export const login = z.strictObject({ email, password: z.string().min(1).max(200) });

export function authRouter({ models, tokens, auth }: ApiDeps): Router {
  // A hash to verify against when the email is unknown, so both paths take the same time.
  const dummyHash = hashPassword('hermes-timing-equaliser');
  const r = new Router({ prefix: '/auth' });

  r.post('/register', auth.limitByAddress, async (ctx) => {
    const body = parse(register, ctx.request.body);
    const taken = await models.User.query().whereRaw('lower(email) = lower(?)', [body.email]).whereNull('deleted_at').first();
    if (taken) throw new HttpError('EMAIL_TAKEN', 'an account with this email exists', [{ field: 'email' }]);
    const user = await models.User.query().insert({ email: body.email, name: body.name, password_hash: await hashPassword(body.password) });
    const { token, expiresIn } = await tokens.issue(user.id);
    ctx.status = 201;
    ctx.body = { user: { id: user.id, email: user.email, name: user.name }, token, token_type: 'Bearer', expires_in: expiresIn };
  });

  r.post('/login', auth.limitByAddress, async (ctx) => {
    const body = parse(login, ctx.request.body);
    const user = await models.User.query().whereRaw('lower(email) = lower(?)', [body.email]).whereNull('deleted_at').first();
    const ok = await verifyPassword(user?.password_hash ?? (await dummyHash), body.password);
    if (!user || !ok) throw new HttpError('INVALID_CREDENTIALS', 'email or password is wrong');
    const { token, expiresIn } = await tokens.issue(user.id);
    ctx.body = { token, token_type: 'Bearer', expires_in: expiresIn };
  });

  return r;
}
