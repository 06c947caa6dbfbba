/**
 * `buf curl` against the live gate, as a person testing by hand would use it: services found
 * through server reflection (no schema), calls with reflection and with `--schema proto`,
 * refusals with their details, gRPC health, and an admin call with and without the token.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ErrorInfoSchema } from '../../gen/google/rpc/error_details_pb.js';
import { startGate } from '../../src/main-gate.js';
import { run } from '../support/processes.js';
import { adminToken, startSystem, type System } from '../support/system.js';

const buf = 'node_modules/.bin/buf';
let system: System;
const sku = 'CURL-1';
const soldOutSku = 'CURL-2';
const busySku = 'CURL-3';

beforeAll(async () => {
  system = await startSystem();
  await system.createSale(sku, { totalStock: 10 });
  await system.createSale(soldOutSku, { totalStock: 1 });
  await system.createSale(busySku, { totalStock: 10, admissionRate: 1, admissionBurst: 1 });
});
afterAll(() => system.close());

const curl = (args: string[]) => run(buf, ['curl', ...args]);
const url = (path: string) => `${system.gate.url}/${path}`;

/** A PlaceOrder of one unit through reflection; `options` choose the protocol. */
const placeOrder = (customerId: string, orderSku: string, options: string[] = []) =>
  curl([
    ...options,
    '-d',
    JSON.stringify({
      sku: orderSku,
      quantity: 1,
      customerId,
      idempotencyKey: `curl-${customerId}`,
    }),
    url('fluxgate.v1.OrderGateService/PlaceOrder'),
  ]);

/** The error buf curl prints on standard error, in the Connect protocol's JSON form. */
interface PrintedError {
  code: string;
  message: string;
  details: { type: string; value: string; debug?: Record<string, unknown> }[];
}

describe('buf curl', () => {
  test('lists the four services, health and reflection without a schema (HTTP/1.1 and h2c)', async () => {
    for (const extra of [[], ['--http2-prior-knowledge']]) {
      const listed = await curl(['--list-services', ...extra, system.gate.url]);
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout.trim().split('\n').sort()).toEqual([
        'fluxgate.v1.AdminService',
        'fluxgate.v1.InventoryService',
        'fluxgate.v1.OrderGateService',
        'fluxgate.v1.QueueService',
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

  test('a sold-out PlaceOrder prints its ErrorInfo: decoded over Connect, as bytes over gRPC', async () => {
    const bought = await placeOrder('curl-first', soldOutSku);
    expect(bought.code, bought.stderr).toBe(0);

    // Connect: the gate writes each detail's JSON form ("debug") beside its bytes.
    const refused = await placeOrder('curl-late', soldOutSku);
    expect(refused.code).toBe(9 * 8); // buf curl exits 8 × the code (FAILED_PRECONDITION)
    expect(JSON.parse(refused.stderr)).toEqual({
      code: 'failed_precondition',
      message: expect.any(String) as string,
      details: [
        {
          type: 'google.rpc.ErrorInfo',
          value: expect.any(String) as string,
          debug: { reason: 'SOLD_OUT', domain: 'fluxgate.dev' },
        },
      ],
    });

    // gRPC and gRPC-Web carry no JSON form, and buf curl decodes details only with the types
    // compiled into it (not through reflection): it prints the type and the bytes.
    for (const [customer, protocol] of [
      ['curl-late-grpc', ['--protocol', 'grpc', '--http2-prior-knowledge']],
      ['curl-late-grpc-web', ['--protocol', 'grpcweb']],
    ] as const) {
      const overGrpc = await placeOrder(customer, soldOutSku, [...protocol]);
      expect(overGrpc.code, protocol.join(' ')).toBe(9 * 8);
      const printed = JSON.parse(overGrpc.stderr) as PrintedError;
      expect(printed).toMatchObject({ code: 'failed_precondition' });
      expect(printed.details.map((d) => d.type)).toEqual(['google.rpc.ErrorInfo']);
      const [detail] = printed.details;
      expect(fromBinary(ErrorInfoSchema, Buffer.from(detail?.value ?? '', 'base64'))).toMatchObject(
        { reason: 'SOLD_OUT', domain: 'fluxgate.dev' },
      );
    }
  });

  test('a rate-limited PlaceOrder prints ErrorInfo, RetryInfo and WaitingRoomTicket decoded (Connect)', async () => {
    // Two at once against a burst of 1: one takes the token, the other is refused. (One after
    // the other, a slow machine can take the second second the rate needs to refill it.)
    const both = await Promise.all([
      placeOrder('curl-busy-1', busySku),
      placeOrder('curl-busy-2', busySku),
    ]);
    expect(both.map((r) => r.code).sort((a, b) => a - b)).toEqual([0, 8 * 8]); // OK, RESOURCE_EXHAUSTED
    const refused = both.find((r) => r.code !== 0)!;
    const printed = JSON.parse(refused.stderr) as PrintedError;
    expect(printed.code).toBe('resource_exhausted');
    expect(printed.details).toEqual([
      {
        type: 'google.rpc.ErrorInfo',
        value: expect.any(String) as string,
        debug: { reason: 'RATE_LIMITED', domain: 'fluxgate.dev' },
      },
      {
        type: 'google.rpc.RetryInfo',
        value: expect.any(String) as string,
        debug: { retryDelay: expect.stringMatching(/^\d+(\.\d+)?s$/) as string },
      },
      {
        type: 'fluxgate.v1.WaitingRoomTicket',
        value: expect.any(String) as string,
        debug: {
          ticketId: expect.any(String) as string,
          sku: busySku,
          retryAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as string,
          token: expect.stringMatching(/^test\./) as string,
          number: '1',
          issuedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as string,
        },
      },
    ]);
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
