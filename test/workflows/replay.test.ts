import proto from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';

// Every recorded history must replay on today's workflow code. A change that alters the
// commands a running contract issues fails here: re-record the histories (unreleased; see README → Tests).
const dir = fileURLToPath(new URL('../fixtures/histories/', import.meta.url));
const histories = readdirSync(dir).filter((f) => f.endsWith('.history.pb'));

describe('replay of recorded workflow histories', () => {
  it('has histories to replay', () => expect(histories.length).toBeGreaterThan(0));

  it.each(histories)('%s replays without a determinism violation', async (file) => {
    const history = proto.temporal.api.history.v1.History.decode(readFileSync(`${dir}${file}`));
    expect(history.events.length).toBeGreaterThan(10);
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') }, replayName: file }, history);
  });
});
