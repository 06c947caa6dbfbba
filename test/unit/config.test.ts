import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { ConfigError, loadConfig, settings } from '../../src/config.js';

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

  test("README's configuration table lists exactly the settings, with their defaults", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const rows = readme
      .split('\n')
      .filter((line) => line.startsWith('| `FLUXGATE_'))
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
