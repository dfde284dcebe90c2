import { ModuleCompileError, type CompiledModule, type ModuleCompiler } from '../lib/module-compiler';
import { HttpError } from './errors';

/**
 * Compiles an uploaded module (to validate it) and answers for the multipart `field` it came
 * in: 400 INVALID_MODULE saying why; 413 MODULE_TOO_COMPLEX when compiling it went past the
 * time or memory bound; 503 UNAVAILABLE with Retry-After when every compile slot and queue
 * place is taken. Any other failure is thrown as it is (a 500).
 */
export async function compileUpload(compiler: ModuleCompiler, bytes: Uint8Array, field = 'file'): Promise<CompiledModule> {
  try {
    return await compiler.compile(bytes);
  } catch (err) {
    if (!(err instanceof ModuleCompileError)) throw err;
    switch (err.code) {
      case 'INVALID_MODULE':
        throw new HttpError('INVALID_MODULE', `${field}: ${err.message}`, [{ field, message: err.message }]);
      case 'MODULE_TOO_COMPLEX':
        throw new HttpError('MODULE_TOO_COMPLEX', `${field}: ${err.message}; send a smaller or simpler module`, [{ field, message: err.message }]);
      case 'COMPILER_BUSY':
        throw new HttpError('UNAVAILABLE', 'every module compiler is busy; send the upload again after Retry-After seconds', undefined, {
          'Retry-After': String(err.extra.retryAfterSeconds ?? 1),
        });
      default:
        throw err;
    }
  }
}
