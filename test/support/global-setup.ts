import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { writeWorkflowBundle } from '../../workers/workflow-bundle';

// Bundle the workflow code once for every test file (webpack is the slow part of a worker's
// start). A bad import in workflow code fails here, before any test runs.
export default async function setup(project: TestProject) {
  const path = join(mkdtempSync(join(tmpdir(), 'hermes-bundle-')), 'workflows.js');
  await writeWorkflowBundle(path);
  project.provide('workflowBundlePath', path);
}
