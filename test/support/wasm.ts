import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadConfig } from '../../lib/config';
import { WasmSandbox, watToWasm, type SandboxOptions } from '../../sandbox';
import { eventually } from './eventually';

// WASM inputs for tests: WAT fixtures for the edge cases (test/fixtures/wasm) and the example
// agents that scripts/lib.sh builds from examples/agents.
const addonPath = () => loadConfig().SANDBOX_ADDON_PATH;

export function fixture(name: string): Buffer {
  const text = readFileSync(new URL(`../fixtures/wasm/${name}.wat`, import.meta.url), 'utf8');
  return watToWasm(addonPath(), text);
}

export function exampleAgent(name: 'text-stats' | 'json-transform'): Buffer {
  const dir = process.env.EXAMPLE_AGENTS_DIR ?? new URL('../../examples/agents/build', import.meta.url).pathname;
  return readFileSync(`${dir}/${name}.wasm`);
}

/** An example verifier (acceptance checks) from examples/verifiers, built beside the agents. */
export function exampleVerifier(name: 'bullet-points' | 'json-totals'): Buffer {
  const dir = process.env.EXAMPLE_AGENTS_DIR ?? new URL('../../examples/verifiers/build', import.meta.url).pathname;
  return readFileSync(`${dir}/${name}.wasm`);
}

export function loadSandbox(cacheCapacity = 16, options: Omit<SandboxOptions, 'cacheCapacity'> = {}): WasmSandbox {
  return WasmSandbox.load(addonPath(), { cacheCapacity, ...options });
}

/** The same module with a random custom section appended: same behaviour, a hash no cache has seen. */
export function withNonce(wasm: Buffer): Buffer {
  const name = Buffer.from('nonce');
  const payload = Buffer.concat([Buffer.from([name.length]), name, randomBytes(16)]);
  return Buffer.concat([wasm, Buffer.from([0, payload.length]), payload]);
}

/**
 * Aborts `controller` once a guest is really running: when this process (whose threads run the
 * sandbox's guests) has spent `cpuMs` more CPU time than at the call. A cancel sent before the
 * run starts would test something else.
 */
export function abortOnceRunning(controller: AbortController, cpuMs = 50): Promise<void> {
  const cpu = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  };
  const start = cpu();
  return eventually(() => cpu() - start >= cpuMs, { interval: 5, message: 'the guest did not start' }).then(() => controller.abort());
}
