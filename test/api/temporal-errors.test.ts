import { Metadata } from '@grpc/grpc-js';
import Koa from 'koa';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { errorMiddleware } from '../../api/errors';

// What a client is told when Temporal, not the request, is the problem. The errors are shaped
// as @grpc/grpc-js raises them (code, details, metadata), with the texts the server sent in the
// chaos run.
function grpcError(code: number, message: string, details: string): Error {
  return Object.assign(new Error(message), { code, details, metadata: new Metadata() });
}

async function answerTo(err: Error) {
  const app = new Koa();
  app.use(errorMiddleware(pino({ level: 'silent' })));
  app.use(() => {
    throw err;
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { method: 'POST' });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), code: ((await res.json()) as { error: { code: string } }).error.code };
  } finally {
    await new Promise((r) => server.close(r));
  }
}

describe('Temporal faults answer 503 with Retry-After', () => {
  it('an Update-with-Start refused because the workflow task is failing (the text is in the message, not the details)', async () => {
    const err = grpcError(9, 'Unable to perform workflow execution update due to Workflow Task in failed state.', 'Update-with-Start could not be executed.');
    expect(await answerTo(err)).toEqual({ status: 503, retryAfter: '2', code: 'UNAVAILABLE' });
  });

  it('an update refused for the same reason (the text in the details)', async () => {
    const err = grpcError(9, '9 FAILED_PRECONDITION: x', 'Unable to perform workflow execution update due to Workflow Task in failed state.');
    expect(await answerTo(err)).toEqual({ status: 503, retryAfter: '2', code: 'UNAVAILABLE' });
  });

  it('a deadline exceeded and an unreachable server', async () => {
    expect(await answerTo(grpcError(4, '4 DEADLINE_EXCEEDED: Deadline exceeded', 'Deadline exceeded'))).toMatchObject({ status: 503, code: 'UNAVAILABLE' });
    expect(await answerTo(grpcError(14, '14 UNAVAILABLE: No connection established', 'No connection established'))).toMatchObject({ status: 503, code: 'UNAVAILABLE' });
  });

  it('another failed precondition is a fault of ours: 500, not a retry', async () => {
    expect(await answerTo(grpcError(9, '9 FAILED_PRECONDITION: Namespace is not active', 'Namespace is not active'))).toEqual({ status: 500, retryAfter: null, code: 'INTERNAL' });
  });
});
