/**
 * `buf curl` against the live gate, as a person testing by hand would use it: services found
 * through server reflection (no schema), calls with reflection and with `--schema proto`,
 * gRPC health, and an admin call with and without the token.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startGate } from '../../src/main-gate.js';
import { adminToken, run, startSystem, type System } from './support.js';

const buf = 'node_modules/.bin/buf';
let system: System;
const sku = 'CURL-1';

beforeAll(async () => {
  system = await startSystem();
  await system.openSale(sku, 10);
});
afterAll(() => system.close());

const curl = (args: string[]) => run(buf, ['curl', ...args]);
const url = (path: string) => `${system.gate.url}/${path}`;

describe('buf curl', () => {
  test('lists the three services, health and reflection without a schema (HTTP/1.1 and h2c)', async () => {
    for (const extra of [[], ['--http2-prior-knowledge']]) {
      const listed = await curl(['--list-services', ...extra, system.gate.url]);
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout.trim().split('\n').sort()).toEqual([
        'fluxgate.v1.AdminService',
        'fluxgate.v1.InventoryService',
        'fluxgate.v1.OrderGateService',
        'grpc.health.v1.Health',
        'grpc.reflection.v1.ServerReflection',
        'grpc.reflection.v1alpha.ServerReflection',
      ]);
    }
  });

  test('PlaceOrder through reflection, GetOrder with --schema proto over gRPC', async () => {
    const placed = await curl([
      '-d',
      JSON.stringify({ sku, quantity: 2, customerId: 'curl-buyer', idempotencyKey: 'curl-key-1' }),
      url('fluxgate.v1.OrderGateService/PlaceOrder'),
    ]);
    expect(placed.code, placed.stderr).toBe(0);
    const answer = JSON.parse(placed.stdout) as { orderId: string; status: string };
    expect(answer.status).toBe('ORDER_STATUS_PENDING');

    const got = await curl([
      '--schema',
      'proto',
      '--protocol',
      'grpc',
      '--http2-prior-knowledge',
      '-d',
      JSON.stringify({ orderId: answer.orderId }),
      url('fluxgate.v1.OrderGateService/GetOrder'),
    ]);
    expect(got.code, got.stderr).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({
      order: { orderId: answer.orderId, sku, quantity: 2, customerId: 'curl-buyer' },
    });
  });

  test('an admin call needs the bearer token', async () => {
    const call = (headers: string[]) =>
      curl([
        ...headers,
        '-d',
        JSON.stringify({ sku }),
        url('fluxgate.v1.AdminService/GetSaleStats'),
      ]);
    const refused = await call([]);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout + refused.stderr).toContain('unauthenticated');

    const stats = await call(['-H', `authorization: Bearer ${adminToken}`]);
    expect(stats.code, stats.stderr).toBe(0);
    expect(JSON.parse(stats.stdout)).toMatchObject({ stats: { sku, accepted: '1' } });
  });

  test('grpc.health.v1 answers SERVING for the server and each service, NOT_FOUND for others', async () => {
    const check = (service: string) =>
      curl([
        '--protocol',
        'grpc',
        '--http2-prior-knowledge',
        '-d',
        JSON.stringify({ service }),
        url('grpc.health.v1.Health/Check'),
      ]);
    for (const service of ['', 'fluxgate.v1.OrderGateService']) {
      const ok = await check(service);
      expect(ok.code, ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout)).toEqual({ status: 'SERVING' });
    }
    const unknown = await check('no.such.Service');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stdout + unknown.stderr).toContain('not_found');
  });

  test('reflection can be switched off', async () => {
    const quiet = await startGate({ ...system.config, reflection: false });
    try {
      const listed = await curl(['--list-services', quiet.url]);
      expect(listed.code).not.toBe(0);
      expect(listed.stderr).toMatch(/unimplemented|not implemented|reflection/i);
    } finally {
      await quiet.close();
    }
  });
});
