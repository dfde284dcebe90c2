import type { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { HERMES_SEARCH_ATTRIBUTES } from '../../domain/search-attributes';

// The dev server registers these from its command line; the time-skipping test server
// needs the operator API.
export async function registerSearchAttributes(connection: Connection, namespace = 'default'): Promise<void> {
  const { IndexedValueType } = proto.temporal.api.enums.v1;
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(
      HERMES_SEARCH_ATTRIBUTES.map((k) => [
        k.name,
        k.type === 'INT' ? IndexedValueType.INDEXED_VALUE_TYPE_INT : IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
      ]),
    ),
  });
}
