import type { temporal } from '@temporalio/proto';

export type History = temporal.api.history.v1.IHistory;

export interface Idleness {
  /** Nothing to do but wait: no workflow task open, no activity running except `gated` ones. */
  idle: boolean;
  closed: boolean;
  /** Update ids the workflow has answered. */
  completedUpdates: Set<string>;
  /** Workflow task failures: a bug in workflow code (non-determinism, an unexpected throw). */
  taskFailures: string[];
  /** What keeps it busy, for the harness's own error. */
  busy: string;
}

// Read from the history rather than timed: a step's checks must see the workflow after it has
// finished reacting, however slow this machine is.
export function idleness(history: History, gated: ReadonlySet<string>): Idleness {
  let openTasks = 0;
  const openActivities = new Map<string, string>();
  const completedUpdates = new Set<string>();
  const taskFailures: string[] = [];
  let closed = false;
  for (const e of history.events ?? []) {
    if (e.workflowTaskScheduledEventAttributes) openTasks++;
    else if (e.workflowTaskCompletedEventAttributes || e.workflowTaskTimedOutEventAttributes) openTasks--;
    else if (e.workflowTaskFailedEventAttributes) {
      openTasks--;
      taskFailures.push(e.workflowTaskFailedEventAttributes.failure?.message ?? 'workflow task failed');
    } else if (e.activityTaskScheduledEventAttributes) {
      openActivities.set(String(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
    } else {
      const closedActivity =
        e.activityTaskCompletedEventAttributes ??
        e.activityTaskFailedEventAttributes ??
        e.activityTaskTimedOutEventAttributes ??
        e.activityTaskCanceledEventAttributes;
      if (closedActivity) openActivities.delete(String(closedActivity.scheduledEventId));
      const updateId = e.workflowExecutionUpdateCompletedEventAttributes?.meta?.updateId;
      if (updateId) completedUpdates.add(updateId);
      if (
        e.workflowExecutionCompletedEventAttributes ||
        e.workflowExecutionFailedEventAttributes ||
        e.workflowExecutionTerminatedEventAttributes ||
        e.workflowExecutionTimedOutEventAttributes ||
        e.workflowExecutionCanceledEventAttributes ||
        e.workflowExecutionContinuedAsNewEventAttributes
      ) {
        closed = true;
      }
    }
  }
  const running = [...openActivities.values()].filter((name) => !gated.has(name));
  const idle = closed || (openTasks <= 0 && running.length === 0);
  const busy = openTasks > 0 ? 'a workflow task is open' : `activities running: ${running.join(', ')}`;
  return { idle, closed, completedUpdates, taskFailures, busy };
}
