// The task queues of the model test's workers.
export const QUEUES = {
  /** Workflows stay cached between tasks: the fast path. */
  cached: 'contract-model',
  /**
   * No workflow cache: every task replays the history, as after a worker restart. Runs that
   * restart their worker use this queue, because the test server never times out the sticky
   * queue of a worker that went away, so a cached workflow would wait for it for ever.
   */
  replaying: 'contract-model-replaying',
  sandbox: 'contract-model-sandbox',
} as const;
