/**
 * Buyers who are who they say they are, on a real gate with FLUXGATE_BUYER_AUTH=jwt and a JWKS
 * file, over Connect and gRPC: a buyer token's subject is the customer, a body that names
 * someone else is refused, every bad token is refused before anything is written, a service
 * token acts for any customer, keys are per customer. Named admin tokens, each call logged by
 * name. The open mode warns at start-up. A JWKS URL is fetched once and cached; one that fails
 * is `unavailable`, not the buyer's fault.
 */
import { create } from '@bufbuild/protobuf';
import {
  Code,
  ConnectError,
  createClient,
  createRouterTransport,
  type Client,
  type Transport,
} from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AdminService } from '../../gen/fluxgate/v1/admin_pb.js';
import { OrderGateService, PlaceOrderResponseSchema } from '../../gen/fluxgate/v1/order_gate_pb.js';
import { RetryInfoSchema } from '../../gen/google/rpc/error_details_pb.js';
import type { Config } from '../../src/config.js';
import { createBuyerAuth, callerKey, type Caller } from '../../src/gate/buyer-auth.js';
import { errorInterceptor } from '../../src/gate/error-mapping.js';
import { startGate, type RunningGate } from '../../src/main-gate.js';
import { runMigrations } from '../../src/main-migrate.js';
import { loadTestSale, testSale } from '../support/sales.js';
import { dropTestData, isolatedConfig, redisFor, redisSnapshot } from '../support/stack.js';
import { reasonOf } from '../support/wire.js';

const issuer = 'https://id.shop.example';
const audience = 'flux-gate';
const serviceToken = 'checkout-service-token-0123456789';
const adminTokens = {
  default: 'default-admin-token-0123456789',
  a: 'ops-a-admin-token-0123456789',
};
const adminTokenB = 'ops-b-admin-token-0123456789';

/** A pino logger whose lines the test reads. */
function capturedLogger() {
  const lines: { level: number; msg: string; [field: string]: unknown }[] = [];
  const logger = pino(
    { level: 'info', base: { service: 'gate' } },
    {
      write: (line: string) => {
        lines.push(JSON.parse(line) as (typeof lines)[number]);
      },
    },
  );
  return { logger, lines };
}

/** The identity provider's signing key, and a stranger's key with the same key id. */
const idp = await generateKeyPair('ES256');
const stranger = await generateKeyPair('ES256');
const kid = 'idp-key-1';
const jwks = { keys: [{ ...(await exportJWK(idp.publicKey)), kid, alg: 'ES256', use: 'sig' }] };

/** A buyer token for `sub`, valid for 5 minutes unless `claims` say otherwise. */
function buyerToken(
  sub: string,
  claims: JWTPayload = {},
  key: CryptoKey = idp.privateKey,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: issuer, aud: audience, sub, iat: now, exp: now + 300, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid })
    .sign(key);
}

const base64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const bearer = (credential: string) => ({ headers: { authorization: `Bearer ${credential}` } });

const jwksFile = join(mkdtempSync(join(tmpdir(), 'fluxgate-jwks-')), 'jwks.json');
writeFileSync(jwksFile, JSON.stringify(jwks));
const config = isolatedConfig({
  buyerAuth: 'jwt',
  jwksFile,
  jwtIssuer: issuer,
  jwtAudience: audience,
  jwtClockSkewSeconds: 30,
  serviceTokens: [`checkout:${serviceToken}`],
  adminToken: adminTokens.default,
  adminTokens: [`ops-a:${adminTokens.a}`, `ops-b:${adminTokenB}`],
  // Buyers here order several times a second: the per-customer rate is not what is tested.
  customerRate: 1000,
  customerBurst: 1000,
});
const { redis, keys } = redisFor(config);
const logs = capturedLogger();
let gate: RunningGate;

// The outbox relay's lock comes and goes every second: background activity, not a write of ours.
const snapshot = async () =>
  new Map(
    [...(await redisSnapshot(redis, config.redisKeyPrefix, () => gate.placer.settled()))].filter(
      ([k]) => !k.endsWith(':relay-lock'),
    ),
  );

/** A token bucket's key, which expires by itself once the bucket is full again. */
const isBucket = (key: string) => /:bucket(:|$)/.test(key);

/**
 * No write between the two snapshots: every key as it was, except token buckets that earlier
 * orders left and that have since expired (gone, or listed and gone before they were read).
 */
function expectNoWrites(before: Map<string, string>, after: Map<string, string>, what = '') {
  const unexpired = (m: Map<string, string>) =>
    new Map([...m].filter(([k, v]) => !(isBucket(k) && v === '')));
  const kept = unexpired(after);
  const expected = new Map([...unexpired(before)].filter(([k]) => kept.has(k) || !isBucket(k)));
  expect(kept, what).toEqual(expected);
}

beforeAll(async () => {
  await runMigrations(config);
  gate = await startGate(config, logs.logger);
  await loadTestSale(redis, keys, testSale('AUTH-1', { totalStock: 1000 }));
});

afterAll(async () => {
  await gate.close();
  redis.disconnect();
  await dropTestData(config);
});

const transports: [string, (url: string) => Transport][] = [
  ['Connect', (baseUrl) => createConnectTransport({ baseUrl, httpVersion: '1.1' })],
  ['gRPC', (baseUrl) => createGrpcTransport({ baseUrl })],
];

describe.each(transports)('buyer tokens over %s', (_, transport) => {
  let orders: Client<typeof OrderGateService>;
  const order = (customerId = '') => ({
    sku: 'AUTH-1',
    quantity: 1,
    customerId,
    idempotencyKey: randomUUID(),
  });

  beforeAll(() => {
    orders = createClient(OrderGateService, transport(gate.url));
  });

  test('a valid token places the order for its subject; the body may leave the customer empty or name the subject', async () => {
    const token = await buyerToken('alice');
    for (const body of [order(), order('alice')]) {
      const placed = await orders.placeOrder(body, bearer(token));
      // GetOrder needs no token: the order id cannot be guessed.
      const { order: stored } = await orders.getOrder({ orderId: placed.orderId });
      expect(stored?.customerId).toBe('alice');
    }
  });

  test('a body naming another customer is permission_denied CUSTOMER_MISMATCH, and writes nothing', async () => {
    const before = await snapshot();
    const error = await orders
      .placeOrder(order('bob'), bearer(await buyerToken('alice')))
      .catch((e: unknown) => e);
    expect((error as ConnectError).code).toBe(Code.PermissionDenied);
    expect(reasonOf(error)).toBe('CUSTOMER_MISMATCH');
    expectNoWrites(before, await snapshot());
  });

  test('no token, or a bad one, is unauthenticated and writes nothing', async () => {
    const now = Math.floor(Date.now() / 1000);
    const hmac = await new SignJWT({ iss: issuer, aud: audience, sub: 'alice', exp: now + 300 })
      .setProtectedHeader({ alg: 'HS256', kid })
      .sign(new TextEncoder().encode('a-shared-secret-of-32-bytes-long'));
    const unsigned = `${base64url({ alg: 'none', kid })}.${base64url({ iss: issuer, aud: audience, sub: 'alice', exp: now + 300 })}.`;
    const cases: [string, Record<string, string> | undefined][] = [
      ['no header', undefined],
      ['another scheme', { authorization: `Basic ${Buffer.from('alice:x').toString('base64')}` }],
      ['garbage', bearer('not-a-token').headers],
      ['expired beyond the skew', bearer(await buyerToken('alice', { exp: now - 60 })).headers],
      [
        'not yet valid beyond the skew',
        bearer(await buyerToken('alice', { nbf: now + 60 })).headers,
      ],
      ['signed by another key', bearer(await buyerToken('alice', {}, stranger.privateKey)).headers],
      ['alg none', bearer(unsigned).headers],
      ['HS256', bearer(hmac).headers],
      [
        'another issuer',
        bearer(await buyerToken('alice', { iss: 'https://evil.example' })).headers,
      ],
      ['another audience', bearer(await buyerToken('alice', { aud: 'someone-else' })).headers],
      ['no expiry', bearer(await buyerToken('alice', { exp: undefined })).headers],
      ['no subject', bearer(await buyerToken('', {})).headers],
      ['a wrong service token', bearer(`${serviceToken}x`).headers],
    ];
    for (const [what, headers] of cases) {
      const before = await snapshot();
      const error = await orders.placeOrder(order('alice'), { headers }).catch((e: unknown) => e);
      expect((error as ConnectError).code, what).toBe(Code.Unauthenticated);
      expect(reasonOf(error), what).toBe('UNAUTHENTICATED');
      expectNoWrites(before, await snapshot(), what);
    }
  });

  test('a token expired within the clock skew is still accepted', async () => {
    const now = Math.floor(Date.now() / 1000);
    const placed = await orders.placeOrder(
      order(),
      bearer(await buyerToken('alice', { exp: now - 10 })),
    );
    expect(placed.orderId).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('a service token may order for any customer, but must name one', async () => {
    for (const customerId of ['carol', 'dave']) {
      const placed = await orders.placeOrder(order(customerId), bearer(serviceToken));
      expect((await orders.getOrder({ orderId: placed.orderId })).order?.customerId).toBe(
        customerId,
      );
    }
    const error = await orders.placeOrder(order(), bearer(serviceToken)).catch((e: unknown) => e);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
  });

  test("another buyer replaying a buyer's key gets a fresh decision, never the first answer", async () => {
    const [erin, frank] = ['erin', 'frank'].map((name) => `${name}-${randomUUID().slice(0, 8)}`);
    const body = order();
    const first = await orders.placeOrder(body, bearer(await buyerToken(erin!)));
    const headers: Headers[] = [];
    const other = await orders.placeOrder(
      { ...body, quantity: 2 },
      { ...bearer(await buyerToken(frank!)), onHeader: (h) => headers.push(h) },
    );
    expect(other.orderId).not.toBe(first.orderId);
    expect(headers[0]?.get('idempotent-replayed')).toBeNull();
    expect(await redis.get(keys.bought('AUTH-1', frank!))).toBe('2');
    // Nor can a buyer name the first buyer to read the stored answer.
    const impersonating = await orders
      .placeOrder({ ...body, customerId: erin! }, bearer(await buyerToken(frank!)))
      .catch((e: unknown) => e);
    expect(reasonOf(impersonating)).toBe('CUSTOMER_MISMATCH');
  });
});

describe('admin tokens', () => {
  test('each named token is accepted, a wrong one refused; every call is logged with the name, never the token', async () => {
    const admin = createClient(AdminService, createGrpcTransport({ baseUrl: gate.url }));
    for (const token of [adminTokens.default, adminTokens.a, adminTokenB])
      await admin.listSales({}, bearer(token));
    for (const token of [
      'wrong-admin-token-0123456789',
      serviceToken,
      `${adminTokenB} `.repeat(2),
    ]) {
      const error = await admin.listSales({}, bearer(token)).catch((e: unknown) => e);
      expect((error as ConnectError).code).toBe(Code.Unauthenticated);
    }
    expect(
      logs.lines
        .filter((l) => l.msg === 'admin action')
        .map(({ admin: name, rpc }) => ({ admin: name, rpc })),
    ).toEqual([
      { admin: 'default', rpc: 'ListSales' },
      { admin: 'ops-a', rpc: 'ListSales' },
      { admin: 'ops-b', rpc: 'ListSales' },
    ]);
    const text = JSON.stringify(logs.lines);
    for (const secret of [...Object.values(adminTokens), adminTokenB, serviceToken])
      expect(text).not.toContain(secret);
  });
});

describe('open mode', () => {
  test('the gate warns at start-up; PlaceOrder needs no token and trusts the body, which must still name a customer', async () => {
    const open = capturedLogger();
    const openGate = await startGate({ ...config, buyerAuth: 'open' }, open.logger);
    try {
      expect(
        open.lines.filter((l) => l.level === 40 && /buyers are NOT authenticated/.test(l.msg)),
      ).toHaveLength(1);
      const orders = createClient(OrderGateService, createGrpcTransport({ baseUrl: openGate.url }));
      const body = { sku: 'AUTH-1', quantity: 1, idempotencyKey: randomUUID() };
      const placed = await orders.placeOrder({ ...body, customerId: 'gina' });
      expect((await orders.getOrder({ orderId: placed.orderId })).order?.customerId).toBe('gina');
      const error = await orders.placeOrder({ ...body, customerId: '' }).catch((e: unknown) => e);
      expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    } finally {
      await openGate.close();
    }
    // The jwt gate said nothing of the kind.
    expect(logs.lines.filter((l) => /NOT authenticated/.test(l.msg))).toEqual([]);
  });
});

describe('JWKS from a URL', () => {
  let server: http.Server;
  let url: string;
  let fetches = 0;
  const silent = { warn: () => undefined };

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/down') {
        res.writeHead(503).end();
        return;
      }
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  });

  afterAll(() => {
    server.close();
  });

  /** An in-memory OrderGateService guarded as the gate guards it; PlaceOrder notes the caller. */
  function guarded(jwksUrl: string) {
    const callers: Caller[] = [];
    const auth = createBuyerAuth({ ...config, jwksFile: '', jwksUrl } satisfies Config, silent);
    const transport = createRouterTransport(
      (router) => {
        router.service(OrderGateService, {
          placeOrder: (_, context) => {
            callers.push(context.values.get(callerKey));
            return create(PlaceOrderResponseSchema, {});
          },
        });
      },
      { router: { interceptors: [errorInterceptor(Date.now), auth] } },
    );
    return { orders: createClient(OrderGateService, transport), callers };
  }

  test('tokens are verified with the fetched keys, fetched once and cached', async () => {
    const { orders, callers } = guarded(`${url}/jwks.json`);
    const body = { sku: 'AUTH-1', quantity: 1, customerId: '', idempotencyKey: 'k' };
    await orders.placeOrder(body, bearer(await buyerToken('hana')));
    await orders.placeOrder(body, bearer(await buyerToken('ivan')));
    expect(callers).toEqual([
      { kind: 'buyer', customerId: 'hana' },
      { kind: 'buyer', customerId: 'ivan' },
    ]);
    expect(fetches).toBe(1);
  });

  test('keys that cannot be fetched are unavailable with a retry delay, not unauthenticated', async () => {
    const { orders, callers } = guarded(`${url}/down`);
    const error = await orders
      .placeOrder(
        { sku: 'AUTH-1', quantity: 1, customerId: '', idempotencyKey: 'k' },
        bearer(await buyerToken('hana')),
      )
      .catch((e: unknown) => e);
    expect((error as ConnectError).code).toBe(Code.Unavailable);
    expect((error as ConnectError).findDetails(RetryInfoSchema)).toHaveLength(1);
    expect(callers).toEqual([]);
  });
});
