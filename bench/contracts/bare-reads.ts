import Koa from 'koa';
import pg from 'pg';

// The bare read routes `npm run bench:contracts` compares Hermes' reads with: Koa and a raw `pg`
// pool answering the same JSON as GET /contracts/:id and GET /agents with one SQL statement
// each (no auth, no rate limit, no logging), and a hello-world for the floor.
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });

const CONTRACT = `
SELECT json_build_object(
  'contract', to_jsonb(c) - 'deleted_at',
  'bids', coalesce((SELECT json_agg(b ORDER BY b.created_at) FROM bids b WHERE b.contract_id = c.id), '[]'),
  'deliveries', coalesce((SELECT json_agg(d ORDER BY d.attempt) FROM deliveries d WHERE d.contract_id = c.id), '[]'),
  'executions', coalesce((SELECT json_agg(to_jsonb(t) - 'stdout' - 'stderr' ORDER BY t.round, t.attempt) FROM task_results t WHERE t.contract_id = c.id), '[]')
)::text AS body
FROM contracts c WHERE c.id = $1 AND c.deleted_at IS NULL`;

const AGENTS = `
SELECT json_build_object('data', coalesce(json_agg(a), '[]'), 'next_cursor', null)::text AS body FROM (
  SELECT id, owner_id, name, description, version, capabilities, status, price_cents, binary_hash, tasks_completed, rating, created_at, updated_at
  FROM agents WHERE deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 20
) a`;

const app = new Koa();
app.use(async (ctx) => {
  const contract = /^\/contracts\/([0-9a-f-]{36})$/.exec(ctx.path);
  if (contract) {
    const { rows } = await pool.query(CONTRACT, [contract[1]]);
    if (!rows[0]) return void (ctx.status = 404);
    ctx.type = 'json';
    ctx.body = rows[0].body;
  } else if (ctx.path === '/agents') {
    const { rows } = await pool.query(AGENTS);
    ctx.type = 'json';
    ctx.body = rows[0].body;
  } else if (ctx.path === '/hello') {
    ctx.body = 'hello';
  } else {
    ctx.status = 404;
  }
});
app.listen(Number(process.env.BARE_PORT ?? 23360), '127.0.0.1', () => console.log('bare reads listening'));
process.once('SIGTERM', () => process.exit(0));
