import type { Knex } from 'knex';

// Each agent's JSON as GET /agents lists it (agentJson in api/serializers.ts, with `online`
// false), kept in its row by Postgres on every insert and update, so a page of agents is its
// rows' texts joined rather than 20 JSON objects built on every request (building them was most
// of that read's cost). No application code writes the column; test/integration/agents-list
// checks it against agentJson after inserts, updates and uploads.
//
// The trigger is named to fire after agents_updated_at (BEFORE triggers fire in name order), so
// the text carries the updated_at that row gets.
const AGENT_JSON = `json_build_object(
    'id', NEW.id, 'owner_id', NEW.owner_id, 'name', NEW.name, 'description', NEW.description, 'version', NEW.version,
    'capabilities', NEW.capabilities, 'status', NEW.status, 'price_cents', NEW.price_cents,
    'tasks_completed', NEW.tasks_completed, 'rating', NEW.rating::float8,
    'binary', CASE WHEN NEW.binary_hash IS NOT NULL AND NEW.binary_hash <> ''
                   THEN json_build_object('sha256', NEW.binary_hash, 'size_bytes', NEW.binary_size, 'url', NEW.binary_url) END,
    'online', false,
    'last_seen_at', to_char(NEW.last_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'created_at', to_char(NEW.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'updated_at', to_char(NEW.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))::text`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE agents ADD COLUMN list_json text');
  await knex.raw(`
    CREATE FUNCTION hermes_agent_list_json() RETURNS trigger AS $$
    BEGIN NEW.list_json := ${AGENT_JSON}; RETURN NEW; END;
    $$ LANGUAGE plpgsql`);
  await knex.raw('CREATE TRIGGER agents_zz_list_json BEFORE INSERT OR UPDATE ON agents FOR EACH ROW EXECUTE FUNCTION hermes_agent_list_json()');
  // Existing rows: written once with agents_updated_at off, so updated_at stays what it was.
  await knex.raw('ALTER TABLE agents DISABLE TRIGGER agents_updated_at');
  await knex.raw('UPDATE agents SET list_json = NULL');
  await knex.raw('ALTER TABLE agents ENABLE TRIGGER agents_updated_at');
  await knex.raw('ALTER TABLE agents ALTER COLUMN list_json SET NOT NULL');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TRIGGER agents_zz_list_json ON agents');
  await knex.raw('DROP FUNCTION hermes_agent_list_json()');
  await knex.raw('ALTER TABLE agents DROP COLUMN list_json');
}
