import type { Knex } from 'knex';

// How a delivery's output is to be read (domain/execution.ts DeliveryEncoding): `json`, the
// value delivered or printed as JSON; `text`, printed text that is not JSON, exactly; `base64`,
// printed bytes that are not UTF-8 text. A sandbox delivery is never altered to fit.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deliveries', (t) => {
    t.text('output_encoding').notNullable().defaultTo('json');
  });
  await knex.raw("ALTER TABLE deliveries ADD CONSTRAINT deliveries_output_encoding_check CHECK (output_encoding IN ('json', 'text', 'base64'))");
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('deliveries', (t) => {
    t.dropColumn('output_encoding');
  });
}
