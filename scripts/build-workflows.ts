// `npm run build:workflows -- <out.js>`: the workflow bundle a worker starts from when
// WORKFLOW_BUNDLE_PATH points at it (`npm start` and `npm run chaos` build one at start).
import { writeWorkflowBundle } from '../workers/workflow-bundle';

const out = process.argv[2];
if (!out) throw new Error('usage: npm run build:workflows -- <out.js>');
await writeWorkflowBundle(out);
