/**
 * grpcurl against the live gate with no proto files, as a person testing by hand would use it:
 * everything it knows comes from server reflection, including the types of a refusal's details,
 * which it must print decoded (not as "@error ... not recognized" with raw bytes).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { run } from '../support/processes.js';
import { startSystem, type System } from '../support/system.js';

let grpcurl: string;
let system: System;
const soldOutSku = 'GRPCURL-1';
const busySku = 'GRPCURL-2';

beforeAll(async () => {
  // A clean machine builds grpcurl from the Go module proxy first: allow for it.
  const installed = await promisify(execFile)('bash', ['scripts/go-tool.sh', 'grpcurl'], {
    encoding: 'utf8',
  });
  grpcurl = installed.stdout.trim();
  system = await startSystem();
  await system.createSale(soldOutSku, { totalStock: 1 });
  await system.createSale(busySku, { totalStock: 10, admissionRate: 1, admissionBurst: 1 });
}, 600_000);
afterAll(() => system.close());

/** Runs grpcurl in plaintext (h2c) against the gate: `options`, the address, then `rest`. */
const grpc = (options: string[], rest: string[] = []) =>
  run(grpcurl, ['-plaintext', ...options, new URL(system.gate.url).host, ...rest]);

/** A PlaceOrder of one unit through grpcurl; `options` go before the address. */
const placeOrder = (customerId: string, sku: string, options: string[] = []) =>
  grpc(
    [
      ...options,
      '-d',
      JSON.stringify({ sku, quantity: 1, customerId, idempotencyKey: `grpcurl-${customerId}` }),
    ],
    ['fluxgate.v1.OrderGateService/PlaceOrder'],
  );

/** The status grpcurl prints on standard error with `-format-error`. */
interface PrintedStatus {
  code: number;
  message: string;
  details: Record<string, unknown>[];
}

describe('grpcurl', () => {
  test('lists the services and describes the detail types through reflection', async () => {
    const listed = await grpc([], ['list']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain('fluxgate.v1.OrderGateService');
    for (const type of [
      'google.rpc.ErrorInfo',
      'google.rpc.RetryInfo',
      'fluxgate.v1.WaitingRoomTicket',
    ]) {
      const described = await grpc([], ['describe', type]);
      expect(described.code, described.stderr).toBe(0);
      expect(described.stdout).toContain(`${type} is a message`);
    }
  });

  test('a sold-out PlaceOrder prints its ErrorInfo decoded', async () => {
    const bought = await placeOrder('first-buyer', soldOutSku);
    expect(bought.code, bought.stderr).toBe(0);
    expect(JSON.parse(bought.stdout)).toMatchObject({ status: 'ORDER_STATUS_PENDING' });

    // As a person sees it: grpcurl's own error text, details as JSON.
    const refused = await placeOrder('late-buyer', soldOutSku);
    expect(refused.code).toBe(64 + 9); // grpcurl exits 64 + the gRPC code (FAILED_PRECONDITION)
    expect(refused.stderr).toContain('Code: FailedPrecondition');
    expect(refused.stderr).toContain('"@type": "type.googleapis.com/google.rpc.ErrorInfo"');
    expect(refused.stderr).toContain('"reason": "SOLD_OUT"');
    expect(refused.stderr).toContain('"domain": "fluxgate.dev"');
    expect(refused.stderr).not.toContain('@error');

    // The same answer (replayed for the same key) as JSON, to check it field by field.
    const printed = await placeOrder('late-buyer', soldOutSku, ['-format-error']);
    expect(printed.code).toBe(64 + 9);
    expect(JSON.parse(printed.stderr)).toEqual({
      code: 9,
      message: expect.any(String) as string,
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'SOLD_OUT',
          domain: 'fluxgate.dev',
        },
      ],
    });
  });

  test('a rate-limited PlaceOrder prints ErrorInfo, RetryInfo and WaitingRoomTicket decoded', async () => {
    const first = await placeOrder('busy-1', busySku);
    expect(first.code, first.stderr).toBe(0);

    const refused = await placeOrder('busy-2', busySku, ['-format-error']);
    expect(refused.code, refused.stderr).toBe(64 + 8); // RESOURCE_EXHAUSTED
    const status = JSON.parse(refused.stderr) as PrintedStatus;
    expect(status.code).toBe(8);
    expect(status.details).toEqual([
      {
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        reason: 'RATE_LIMITED',
        domain: 'fluxgate.dev',
      },
      {
        '@type': 'type.googleapis.com/google.rpc.RetryInfo',
        retryDelay: expect.stringMatching(/^\d+(\.\d+)?s$/) as string,
      },
      {
        '@type': 'type.googleapis.com/fluxgate.v1.WaitingRoomTicket',
        ticketId: expect.any(String) as string,
        sku: busySku,
        retryAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as string,
        token: expect.stringMatching(/^test\./) as string,
        number: '1',
        issuedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as string,
      },
    ]);
    expect(refused.stderr).not.toContain('@error');
  });
});
