/** Bad input is refused with a precise invalid_argument (or not_found) and writes nothing. */
import { Code, ConnectError, createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { OrderGateService } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { ErrorInfoSchema } from '../../gen/google/rpc/error_details_pb.js';
import { startGate, type RunningGate } from '../../src/main-gate.js';
import { badInputs } from '../fixtures/bad-inputs.js';
import { loadTestSale, testSale } from '../support/sales.js';
import { runMigrations } from '../../src/main-migrate.js';
import { dropTestData, isolatedConfig, redisFor, redisSnapshot } from '../support/stack.js';

describe('bad input', () => {
  // A gate and key prefix of its own, so the snapshot sees nothing but this suite's requests.
  const ownConfig = isolatedConfig();
  const own = redisFor(ownConfig);
  let gate: RunningGate;
  let client: Client<typeof OrderGateService>;
  const good = { sku: 'BAD-1', quantity: 1, customerId: 'alice', idempotencyKey: 'key-1' };
  // The outbox relay's lock comes and goes every second: background activity, not a write of ours.
  const snapshot = async () =>
    new Map(
      [
        ...(await redisSnapshot(own.redis, ownConfig.redisKeyPrefix, () => gate.placer.settled())),
      ].filter(([k]) => !k.endsWith(':relay-lock')),
    );

  beforeAll(async () => {
    // An sku the live store lacks is looked up in the database: it needs the tables.
    await runMigrations(ownConfig);
    gate = await startGate(ownConfig);
    await loadTestSale(own.redis, own.keys, testSale('BAD-1', { totalStock: 10 }));
    client = createClient(OrderGateService, createGrpcTransport({ baseUrl: gate.url }));
  });

  afterAll(async () => {
    await gate.close();
    own.redis.disconnect();
    await dropTestData(ownConfig);
  });

  test.each(badInputs)(
    '%s -> invalid_argument naming %s, Redis unchanged',
    async (_, change, field) => {
      const before = await snapshot();
      const { idempotencyKeyHeader, ...fields } = change;
      const headers =
        idempotencyKeyHeader === undefined
          ? undefined
          : { 'idempotency-key': idempotencyKeyHeader };
      const error = await client
        .placeOrder({ ...good, ...fields }, { headers })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).code).toBe(Code.InvalidArgument);
      expect((error as ConnectError).findDetails(ErrorInfoSchema)[0]?.metadata.field).toBe(field);
      expect(await snapshot()).toEqual(before);
    },
  );

  test('an unknown sku is not_found and writes nothing', async () => {
    const before = await snapshot();
    const error = await client
      .placeOrder({ ...good, sku: 'NO-SUCH-SALE' })
      .catch((e: unknown) => e);
    expect((error as ConnectError).code).toBe(Code.NotFound);
    expect(await snapshot()).toEqual(before);
  });

  test('a message over the size limit is refused before it is read, and writes nothing', async () => {
    const before = await snapshot();
    const error = await client
      .placeOrder({ ...good, customerId: 'x'.repeat(100_000) })
      .catch((e: unknown) => e);
    expect((error as ConnectError).code).toBe(Code.ResourceExhausted);
    expect(await snapshot()).toEqual(before);
  });
});
