import Router from '@koa/router';
import { z } from 'zod';
import type { Knex } from 'knex';
import { DEFAULT_WEIGHTS, type Weights } from '../../domain/weights';
import type { AwardFilters } from '../../domain/ranking';
import { currentUserId } from '../auth';
import type { ApiDeps } from '../deps';
import { parse } from '../validate';
import { filtersSchema, weightsSchema } from './contract-schemas';

export const putPreferences = z.strictObject({ weights: weightsSchema, default_filters: filtersSchema.default({}) });

export interface Preferences {
  weights: Weights;
  default_filters: AwardFilters;
}

export async function loadPreferences(knex: Knex, userId: string): Promise<Preferences> {
  const row = await knex('user_preferences').where({ user_id: userId }).first();
  if (!row) return { weights: { ...DEFAULT_WEIGHTS }, default_filters: {} };
  return {
    weights: {
      price: row.weight_price_bps,
      performance: row.weight_performance_bps,
      speed: row.weight_speed_bps,
      reputation: row.weight_reputation_bps,
    },
    default_filters: row.default_filters,
  };
}

export function preferencesRouter({ knex, auth }: ApiDeps): Router {
  const r = new Router({ prefix: '/preferences' });
  r.use(auth.requireUser);

  r.get('/', async (ctx) => {
    ctx.body = await loadPreferences(knex, currentUserId(ctx));
  });

  r.put('/', async (ctx) => {
    const body = parse(putPreferences, ctx.request.body);
    const row = {
      user_id: currentUserId(ctx),
      weight_price_bps: body.weights.price,
      weight_performance_bps: body.weights.performance,
      weight_speed_bps: body.weights.speed,
      weight_reputation_bps: body.weights.reputation,
      default_filters: JSON.stringify(body.default_filters),
    };
    await knex('user_preferences').insert(row).onConflict('user_id').merge();
    ctx.body = await loadPreferences(knex, currentUserId(ctx));
  });
  return r;
}
