import type { Knex } from 'knex';

// Status changes of a direct task (workflows/task.ts). Absolute updates, safe to retry.
export function createTaskActivities({ knex }: { knex: Knex }) {
  return {
    async markTaskRunning(taskId: string): Promise<void> {
      await knex('tasks')
        .where({ id: taskId })
        .update({ status: 'running', started_at: knex.raw('coalesce(started_at, now())') });
    },

    async finishTask(taskId: string, status: 'succeeded' | 'failed'): Promise<void> {
      await knex('tasks')
        .where({ id: taskId })
        .update({ status, finished_at: knex.raw('coalesce(finished_at, now())') });
    },
  };
}
