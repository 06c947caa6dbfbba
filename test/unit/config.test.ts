import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { ConfigError, loadConfig, settings } from '../../src/config.js';
import { isCluster, redisUrls } from '../../src/redis/client.js';

describe('config', () => {
  test('defaults alone make a valid, frozen config', () => {
    const config = loadConfig({});
    expect(config.gatePort).toBe(8080);
    expect(config.kafkaBrokers).toEqual(['127.0.0.1:9092']);
    expect(Object.isFrozen(config)).toBe(true);
  });

  test('every bad value is reported, one line each, naming the variable', () => {
    let caught: unknown;
    try {
      loadConfig({
        FLUXGATE_GATE_PORT: '70000',
        FLUXGATE_MAX_QUANTITY: 'ten',
        FLUXGATE_ADMIN_TOKEN: 'short',
        FLUXGATE_TLS_CERT_FILE: '/x.pem',
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems;
    expect(problems).toHaveLength(4);
    expect(problems.map((p) => p.split('=')[0])).toEqual(
      expect.arrayContaining([
        'FLUXGATE_GATE_PORT',
        'FLUXGATE_MAX_QUANTITY',
        'FLUXGATE_ADMIN_TOKEN',
      ]),
    );
    expect(problems.some((p) => p.includes('FLUXGATE_TLS_KEY_FILE'))).toBe(true);
  });

  test('buyer and admin authentication settings are checked at start-up', () => {
    const problemsOf = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return [];
      } catch (error) {
        return (error as ConfigError).problems;
      }
    };
    const jwt = { FLUXGATE_BUYER_AUTH: 'jwt' };
    expect(problemsOf(jwt)).toEqual([
      'FLUXGATE_BUYER_AUTH=jwt needs exactly one of FLUXGATE_JWKS_URL and FLUXGATE_JWKS_FILE',
    ]);
    expect(
      problemsOf({ ...jwt, FLUXGATE_JWKS_URL: 'https://id.example/jwks', FLUXGATE_JWKS_FILE: 'k' }),
    ).toHaveLength(1);
    expect(problemsOf({ ...jwt, FLUXGATE_JWKS_FILE: '/etc/jwks.json' })).toEqual([]);
    const tokens = (value: string) => problemsOf({ FLUXGATE_SERVICE_TOKENS: value });
    expect(tokens('checkout:0123456789abcdef, crm:fedcba9876543210')).toEqual([]);
    for (const bad of [
      'no-colon-0123456789',
      'short:abc',
      'a:0123456789abcdef,a:fedcba9876543210',
    ]) {
      expect(tokens(bad)[0]).toMatch(/^FLUXGATE_SERVICE_TOKENS=\(secret, not shown\): /);
      // The bad value (a token, or most of one) never reaches the error output.
      expect(tokens(bad)[0]).not.toContain(bad.slice(2));
    }
    expect(loadConfig({ FLUXGATE_ADMIN_TOKENS: 'ops:0123456789abcdef' }).adminTokens).toEqual([
      'ops:0123456789abcdef',
    ]);
    expect(loadConfig({}).buyerAuth).toBe('open');
  });

  test('traces: off by default; an http(s) endpoint and a ratio from 0 to 1', () => {
    expect(loadConfig({})).toMatchObject({
      otlpEndpoint: '',
      serviceName: '',
      traceSampleRatio: 1,
    });
    expect(
      loadConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_SERVICE_NAME: 'gate-eu-1',
        FLUXGATE_TRACE_SAMPLE_RATIO: '0.01',
      }),
    ).toMatchObject({
      otlpEndpoint: 'http://collector:4318',
      serviceName: 'gate-eu-1',
      traceSampleRatio: 0.01,
    });
    for (const bad of ['collector:4318', 'grpc://collector:4317']) {
      expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: bad }), bad).toThrow(ConfigError);
    }
    for (const bad of ['-0.1', '1.5', 'all']) {
      expect(() => loadConfig({ FLUXGATE_TRACE_SAMPLE_RATIO: bad }), bad).toThrow(ConfigError);
    }
  });

  test('gate processes: one by default, a whole number from 1 to 256', () => {
    expect(loadConfig({}).gateProcesses).toBe(1);
    expect(loadConfig({ FLUXGATE_GATE_PROCESSES: '4' }).gateProcesses).toBe(4);
    for (const bad of ['0', '257', '1.5', 'two']) {
      expect(() => loadConfig({ FLUXGATE_GATE_PROCESSES: bad }), bad).toThrow(ConfigError);
    }
  });

  test('Redis: one server by default; several nodes, or the flag, name a cluster', () => {
    const one = loadConfig({});
    expect(isCluster(one)).toBe(false);
    const several = loadConfig({
      FLUXGATE_REDIS_URL: 'redis://10.0.0.1:7000, redis://10.0.0.2:7000',
    });
    expect(several.redisUrl).toBe('redis://10.0.0.1:7000,redis://10.0.0.2:7000');
    expect(redisUrls(several.redisUrl)).toEqual(['redis://10.0.0.1:7000', 'redis://10.0.0.2:7000']);
    expect(isCluster(several)).toBe(true);
    expect(isCluster(loadConfig({ FLUXGATE_REDIS_CLUSTER: 'true' }))).toBe(true);
    for (const bad of ['', 'http://127.0.0.1:6379', 'redis://a:1,nonsense', ','])
      expect(() => loadConfig({ FLUXGATE_REDIS_URL: bad }), bad).toThrow(ConfigError);
    expect(loadConfig({}).redisWaitReplicas).toBe(0);
    expect(() => loadConfig({ FLUXGATE_REDIS_WAIT_REPLICAS: '-1' })).toThrow(ConfigError);
  });

  test("README's configuration table lists exactly the settings, with their defaults", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const rows = readme
      .split('\n')
      // OpenTelemetry's standard names keep their own prefix.
      .filter((line) => /^\| `(FLUXGATE|OTEL)_/.test(line))
      .map((line) =>
        line
          .split('|')
          .slice(1, 3)
          .map((cell) => cell.trim()),
      );
    const expected = Object.values(settings).map((s) => [
      `\`${s.env}\``,
      s.default === '' ? '(empty)' : `\`${s.default}\``,
    ]);
    expect(rows).toEqual(expected);
  });
});
