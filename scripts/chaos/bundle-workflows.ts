// Bundles the workflow code once for the run: `bundle-workflows.ts <out.js>`. The run's worker
// starts from it (see prebuilt-workflows.mjs), as a deployed worker would.
import { bundleWorkflowCode } from '@temporalio/worker';
import { writeFileSync } from 'node:fs';
import { WORKFLOWS_PATH } from '../../workers/create-worker';

const out = process.argv[2];
if (!out) throw new Error('usage: bundle-workflows.ts <out.js>');
const noop = () => undefined;
const { code } = await bundleWorkflowCode({
  workflowsPath: WORKFLOWS_PATH,
  logger: { trace: noop, debug: noop, info: noop, warn: console.warn, error: console.error, log: noop },
});
writeFileSync(out, code);
