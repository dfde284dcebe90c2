import Router from '@koa/router';
import Stripe from 'stripe';
import type { Knex } from 'knex';
import { z } from 'zod';
import { ensureCustomer } from '../../lib/stripe-customers';
import { currentUserId } from '../auth';
import type { ApiDeps } from '../deps';
import { HttpError } from '../errors';
import { idempotentCreate, optionalIdempotencyKey } from '../idempotency';
import { afterCursor, pageOf } from '../pagination';
import { intFromText, parse } from '../validate';
import { requestHash } from '../../lib/request-hash';

// Stripe documents that the object ids it generates never exceed 255 characters.
const STRIPE_ID_MAX = 255;

export const addMethod = z.strictObject({
  payment_method: z.string().max(STRIPE_ID_MAX).trim().regex(/^pm_[A-Za-z0-9_]+$/, 'a Stripe PaymentMethod id (pm_…)'),
  make_default: z.boolean().default(true),
});

// Stripe's test-mode shortcuts (pm_card_visa, pm_card_chargeDeclined, …) are not objects
// anyone owns: each attach makes a new PaymentMethod. Ids Stripe issues are pm_ and random
// letters and digits, so never one of these.
const isTestShortcut = (id: string) => id.startsWith('pm_card_');

// The same 404 for a PaymentMethod that does not exist and one that is someone else's.
const methodNotFound = () => new HttpError('NOT_FOUND', 'payment method not found', [{ field: 'payment_method' }]);

export const historyQuery = z.object({
  limit: intFromText(z.number().int().min(1).max(100)).default(50),
  cursor: z.string().max(200).optional(),
});

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

// A user's Stripe customer and saved payment methods, and the history of their payments.
export function paymentsRouter({ knex, stripe, auth, config }: ApiDeps): Router {
  const r = new Router({ prefix: '/payments' });
  r.use(auth.requireUser);

  const methodJson = (m: Record<string, any>) => ({
    id: m.stripe_payment_method_id,
    brand: m.brand,
    last4: m.last4,
    exp_month: m.exp_month,
    exp_year: m.exp_year,
    is_default: m.is_default,
    created_at: iso(m.created_at),
  });

  // Attach a PaymentMethod (created client-side with Stripe.js) to the user's customer. One
  // that another user saved here is theirs: 404, as for one Stripe does not know, and Stripe
  // is not asked to move it. Idempotency-Key: a retry gets the first 201 and the same method,
  // and Stripe sees one attach (a test shortcut attached twice would be two methods).
  r.post('/methods', async (ctx) => {
    const userId = currentUserId(ctx);
    const body = parse(addMethod, ctx.request.body);
    const route = 'POST /payments/methods';
    const key = optionalIdempotencyKey(ctx);
    await idempotentCreate({ knex, config }, ctx, { caller: { kind: 'user', id: userId }, route, request: body }, async (db) => {
      // Stripe keeps its keys 24 h too; the hash makes another body under our key another key there.
      const stripeKey = key === undefined ? undefined : `user-${userId}/payment-method/${requestHash({ key, body })}`;
      return { status: 201, body: methodJson(await addPaymentMethod(db, userId, body, stripeKey)) };
    });
  });

  async function addPaymentMethod(db: Knex, userId: string, body: z.infer<typeof addMethod>, stripeKey: string | undefined) {
    if (!isTestShortcut(body.payment_method)) {
      const foreign = await db('payment_methods')
        .where({ stripe_payment_method_id: body.payment_method })
        .whereNot({ user_id: userId })
        .first('id');
      if (foreign) throw methodNotFound();
    }
    const customer = await ensureCustomer(db, stripe, userId);
    let pm: Stripe.PaymentMethod;
    try {
      pm = await stripe.paymentMethods.attach(body.payment_method, { customer }, stripeKey ? { idempotencyKey: stripeKey } : undefined);
      if (body.make_default) {
        await stripe.customers.update(customer, { invoice_settings: { default_payment_method: pm.id } });
      }
    } catch (err) {
      if (err instanceof Stripe.errors.StripeCardError) throw new HttpError('PAYMENT_DECLINED', err.message, [{ field: 'payment_method' }]);
      if (err instanceof Stripe.errors.StripeInvalidRequestError) {
        if (err.code === 'resource_missing') throw methodNotFound();
        throw new HttpError('VALIDATION_ERROR', `payment_method: ${err.message}`, [{ field: 'payment_method' }]);
      }
      throw err;
    }
    return db.transaction(async (trx) => {
      const first = !(await trx('payment_methods').where({ user_id: userId }).whereNull('deleted_at').first('id'));
      const isDefault = body.make_default || first;
      if (isDefault) await trx('payment_methods').where({ user_id: userId, is_default: true }).update({ is_default: false });
      const [saved] = await trx('payment_methods')
        .insert({
          user_id: userId,
          stripe_payment_method_id: pm.id,
          brand: pm.card?.brand ?? pm.type,
          last4: pm.card?.last4 ?? null,
          exp_month: pm.card?.exp_month ?? null,
          exp_year: pm.card?.exp_year ?? null,
          is_default: isDefault,
        })
        .onConflict(['user_id', 'stripe_payment_method_id'])
        .merge({ is_default: isDefault, deleted_at: null })
        .returning('*');
      return saved;
    });
  }

  r.get('/methods', async (ctx) => {
    const rows = await knex('payment_methods')
      .where({ user_id: currentUserId(ctx) })
      .whereNull('deleted_at')
      .orderBy([{ column: 'is_default', order: 'desc' }, { column: 'created_at', order: 'desc' }]);
    ctx.body = { data: rows.map(methodJson) };
  });

  // Every escrow state the user's payments went through: authorised, captured, voided,
  // refunded, disputed, failed, with the contract, amount and time; newest first.
  r.get('/history', async (ctx) => {
    const q = parse(historyQuery, ctx.query);
    let query = knex('payment_events as e')
      .join('payments as p', 'p.id', 'e.payment_id')
      .where('e.user_id', currentUserId(ctx))
      .select('e.id', 'e.kind', 'e.amount_cents', 'e.detail', 'e.created_at', 'e.contract_id', 'p.currency', 'p.status', 'p.stripe_payment_intent_id')
      .orderBy([{ column: 'e.created_at', order: 'desc' }, { column: 'e.id', order: 'desc' }])
      .limit(q.limit + 1);
    query = afterCursor(query, q.cursor, { table: 'e' });
    const { page, next_cursor } = pageOf(await query, q.limit);
    ctx.body = {
      data: page.map((e) => ({
        contract_id: e.contract_id,
        payment_intent_id: e.stripe_payment_intent_id,
        event: e.kind,
        amount_cents: Number(e.amount_cents),
        currency: e.currency.trim(),
        payment_status: e.status,
        detail: e.detail,
        at: iso(e.created_at),
      })),
      next_cursor,
    };
  });

  return r;
}
