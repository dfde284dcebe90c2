import { readFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { openApiDocument } from '../../api/openapi';
import { API_TYPES_PATH, apiTypesSource } from '../../scripts/sdk-api-types';

// The SDK's HTTP types are generated and committed (it builds without the server); they must
// say what the API's document says.
it('sdk/src/api-types.ts is generated from the current OpenAPI document (else: npm run sdk:api-types)', async () => {
  expect(await readFile(API_TYPES_PATH, 'utf8')).toBe(await apiTypesSource(openApiDocument()));
});
