/** The gate an attack test file runs against: started in-process, warmed up, stopped after. */
import { afterAll, beforeAll } from 'vitest';
import type { Config } from '../../src/config.js';
import { startGate, type RunningGate } from '../../src/main-gate.js';
import { measureLegitimate } from './support.js';

/** The file's gate and its port, set once the file's `beforeAll` has run. */
export interface AttackedGate {
  readonly gate: RunningGate;
  readonly port: number;
}

/**
 * Starts a gate with `config` before the file's tests, warmed up by a legitimate client so the
 * first baseline is not a cold start, and stops it after them (registers the hooks).
 */
export function attackedGate(config: Config): AttackedGate {
  const file: { gate?: RunningGate; port?: number } = {};
  beforeAll(async () => {
    file.gate = await startGate(config);
    file.port = Number(new URL(file.gate.url).port);
    await measureLegitimate(file.gate.url, 200);
  });
  afterAll(async () => {
    await file.gate?.close();
  });
  return {
    get gate() {
      if (!file.gate) throw new Error('the gate starts in beforeAll');
      return file.gate;
    },
    get port() {
      if (file.port === undefined) throw new Error('the gate starts in beforeAll');
      return file.port;
    },
  };
}
