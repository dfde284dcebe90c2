import { createHash } from 'node:crypto';
import { exactOutput, type ExecutionReport } from '../../domain/execution';

/** A sandbox run's report as executeAgent gives it, for workflow tests that stand in for the sandbox. */
export function executionReport(fields: Omit<ExecutionReport, 'stdout' | 'stderr' | 'stdoutEncoding' | 'stderrEncoding' | 'stdoutSha256' | 'stdoutBytes' | 'stderrSha256' | 'stderrBytes'> & { stdout?: string | Buffer; stderr?: string | Buffer }): ExecutionReport {
  const { stdout = '', stderr = '', ...rest } = fields;
  const out = Buffer.from(stdout);
  const err = Buffer.from(stderr);
  const o = exactOutput(out);
  const e = exactOutput(err);
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  return {
    ...rest,
    stdout: o.text,
    stdoutEncoding: o.encoding,
    stdoutSha256: sha(out),
    stdoutBytes: out.length,
    stderr: e.text,
    stderrEncoding: e.encoding,
    stderrSha256: sha(err),
    stderrBytes: err.length,
  };
}
