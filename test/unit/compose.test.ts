/**
 * docker-compose.yml stays in step with the local stack and the configuration: the same Kafka
 * version and broker settings, the same Redis durability flags, the same credentials, only known
 * settings, and the default ports published and probed. (Its syntax is checked by scripts/compose-check in CI.)
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, test } from 'vitest';
import { settings } from '../../src/config.js';

interface Service {
  environment?: Record<string, string>;
  command?: string[];
  image?: string;
  ports?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}
const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const compose = parse(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, Service>;
};
const service = (name: string): Service => {
  const found = compose.services[name];
  if (found === undefined) throw new Error(`no service ${name}`);
  return found;
};

describe('docker-compose.yml', () => {
  test('runs the three servers, a one-shot migration, the worker and the gate', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ['gate', 'kafka', 'migrate', 'postgres', 'redis', 'worker'].sort(),
    );
    for (const name of ['gate', 'worker']) {
      expect(service(name).depends_on?.migrate?.condition).toBe('service_completed_successfully');
      expect(service(name).depends_on?.kafka?.condition).toBe('service_healthy');
    }
    for (const name of ['redis', 'postgres', 'kafka', 'gate', 'worker']) {
      expect(service(name).healthcheck, name).toBeDefined();
    }
  });

  test('sets only settings the service reads', () => {
    const known = new Set<string>(Object.values(settings).map((s) => s.env));
    for (const name of ['migrate', 'worker', 'gate']) {
      for (const key of Object.keys(service(name).environment ?? {})) {
        expect(known.has(key), `${name}: ${key}`).toBe(true);
      }
    }
  });

  test('uses the Kafka version, Redis flags and credentials of the local stack', () => {
    const kafkaVersion = /<kafka.version>(.+)<\/kafka.version>/.exec(
      read('scripts/kafka/pom.xml'),
    )?.[1];
    expect(service('kafka').image).toBe(`apache/kafka:${kafkaVersion ?? '?'}`);

    // Every broker setting of stack.sh's server.properties that names no local port or folder
    // (those hold a shell variable) is set alike in compose, as the image's KAFKA_* variable.
    const stack = read('scripts/stack.sh');
    const serverProperties = /server\.properties" <<EOF\n([^]*?)\nEOF\n/.exec(stack)?.[1] ?? '';
    const brokerSettings = serverProperties
      .split('\n')
      .filter((line) => /^[a-z.]+=[^$]*$/.test(line))
      .map((line) => line.split('='));
    expect(brokerSettings.length).toBeGreaterThan(10);
    const kafkaEnv = service('kafka').environment ?? {};
    for (const [key = '', value] of brokerSettings) {
      const name = `KAFKA_${key.toUpperCase().replaceAll('.', '_')}`;
      expect(String(kafkaEnv[name]), name).toBe(value);
    }

    const redisFlags = service('redis').command?.join(' ') ?? '';
    for (const flag of [
      '--appendonly yes',
      '--appendfsync everysec',
      '--maxmemory-policy noeviction',
    ]) {
      expect(stack).toContain(flag);
      expect(redisFlags).toContain(flag);
    }

    const local = new URL(settings.databaseUrl.default);
    const env = service('postgres').environment ?? {};
    expect([env.POSTGRES_USER, env.POSTGRES_PASSWORD, env.POSTGRES_DB]).toEqual([
      local.username,
      local.password,
      local.pathname.slice(1),
    ]);
  });

  test('publishes and probes the default ports', () => {
    const gate = service('gate');
    expect(gate.ports).toContain(
      `127.0.0.1:${settings.gatePort.default}:${settings.gatePort.default}`,
    );
    expect(gate.ports).toContain(
      `127.0.0.1:${settings.gateOpsPort.default}:${settings.gateOpsPort.default}`,
    );
    expect(gate.healthcheck?.test.join(' ')).toContain(`:${settings.gateOpsPort.default}/readyz`);
    const worker = service('worker');
    expect(worker.ports).toContain(
      `127.0.0.1:${settings.workerOpsPort.default}:${settings.workerOpsPort.default}`,
    );
    expect(worker.healthcheck?.test.join(' ')).toContain(
      `:${settings.workerOpsPort.default}/readyz`,
    );
  });
});
