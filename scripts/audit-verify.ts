// `npm run audit:verify`: recomputes every contract's audit chain in DATABASE_URL (read page by
// page, never all at once) and prints the first broken link of each chain that has one, and each
// contract whose chain is gone or lacks its end. Exit 0 when every chain holds, 1 when any is
// broken or missing, 2 when it could not check.
import { createKnex } from '../db/knex';
import { loadConfig } from '../lib/config';
import { verifyAllChains } from '../lib/audit';

const knex = createKnex(loadConfig());
try {
  const report = await verifyAllChains(knex);
  for (const b of report.broken) {
    const what =
      b.reason === 'seq_gap'
        ? `expected seq ${b.expected}, found ${b.stored}`
        : `expected ${b.expected}, stored ${b.stored}`;
    console.log(`BROKEN contract ${b.contract_id} at seq ${b.seq} (${b.kind}): ${b.reason}: ${b.message}; ${what}`);
  }
  for (const m of report.missing) {
    const what = m.missing === 'created' ? 'has no chain (no `created` record)' : `is ${m.status} but its chain has no \`closed\` record`;
    console.log(`MISSING contract ${m.contract_id} ${what}`);
  }
  if (report.missing_count > report.missing.length) console.log(`… and ${report.missing_count - report.missing.length} more contract(s) missing records`);
  const missing = report.missing_count ? `, ${report.missing_count} contract(s) missing records` : '';
  console.log(`audit: ${report.contracts} chain(s), ${report.records} record(s): ${report.verified} verified, ${report.broken.length} broken${missing}`);
  process.exitCode = report.broken.length || report.missing_count ? 1 : 0;
} catch (err) {
  console.error(`audit: could not verify: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 2;
} finally {
  await knex.destroy();
}
