import type { Knex } from 'knex';
import { lockContract } from '../db/contract-transition';
import type { Validation } from '../domain/acceptance';
import { rooms } from '../lib/events';
import { appendEvents } from '../lib/outbox';
import { appendAudit } from '../lib/audit';
import { sha256Hex } from '../domain/audit';

// A delivery's validation (acceptance checks) as the contract workflow concluded it.
export function createValidationRecordActivities({ knex }: { knex: Knex }) {
  return {
    /**
     * Stores the validation on its deliveries row (`validation`, and `is_validated` iff it
     * passed) with its `delivery:validated` event, in one transaction, and the review window
     * that starts with it when the user decides. Idempotent: a retry finds the row already
     * validated and writes nothing, so the event exists once.
     */
    async recordValidation(contractId: string, attempt: number, validation: Validation, reviewDeadline: string | null = null): Promise<void> {
      await knex.transaction(async (trx) => {
        await lockContract(trx, contractId);
        const [row] = await trx('deliveries')
          .where({ contract_id: contractId, attempt })
          .whereNull('validation')
          .update({ validation: JSON.stringify(validation), is_validated: validation.status === 'passed' })
          .returning(['id', 'agent_id']);
        if (!row) return;
        if (reviewDeadline) await trx('contracts').where({ id: contractId }).update({ review_deadline: reviewDeadline });
        await appendEvents(trx, contractId, [
          {
            type: 'delivery:validated',
            // The owner, and the agent whose delivery it is (it learns why it failed).
            rooms: [rooms.contract(contractId), rooms.agent(row.agent_id)],
            data: {
              contract_id: contractId,
              delivery_id: row.id,
              agent_id: row.agent_id,
              attempt,
              is_validated: validation.status === 'passed',
              validation,
              review_deadline: reviewDeadline,
            },
          },
        ]);
        // The checks' verdict is a fact the money depends on: it goes in the contract's audit chain.
        await appendAudit(
          trx,
          contractId,
          'validation',
          {
            delivery_id: row.id,
            agent_id: row.agent_id,
            attempt,
            status: validation.status,
            is_validated: validation.status === 'passed',
            checks: validation.checks.map((c) => ({
              name: c.name,
              status: c.status,
              message: c.message,
              schema_errors: c.errors?.length ?? null,
              verifier_id: c.verifier_id ?? null,
              verifier_sha256: c.verifier_sha256 ?? null,
              outcome: c.outcome ?? null,
              exit_code: c.exit_code ?? null,
              fuel_consumed: c.fuel_consumed ?? null,
            })),
            report_sha256: validation.report === null ? null : sha256Hex(validation.report),
            validated_at: validation.validated_at,
          },
          `validation/${attempt}`,
        );
      });
    },
  };
}
