import { bundleWorkflowCode } from '@temporalio/worker';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { WORKFLOWS_PATH } from '../../workers/create-worker';

// Bundle the workflow code once for every test file (webpack is the slow part of a worker's
// start). A bad import in workflow code fails here, before any test runs.
export default async function setup(project: TestProject) {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
  const path = join(mkdtempSync(join(tmpdir(), 'hermes-bundle-')), 'workflows.js');
  writeFileSync(path, code);
  project.provide('workflowBundlePath', path);
}

const noop = () => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: console.warn, error: console.error, log: noop };
