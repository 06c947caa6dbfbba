/**
 * `flux-gate rehearse` against a real gate and worker: a small crowd sells out a sale it creates,
 * and what its report says is checked against Redis and PostgreSQL directly; a rehearsal whose
 * time runs out reports its unfinished buyers and says so in its exit code; against a gate that
 * authenticates buyers, the crowd orders with a service token.
 */
import type { MikroORM } from '@mikro-orm/postgresql';
import { exportJWK, generateKeyPair } from 'jose';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { RehearsalReport } from '../../src/rehearsal/report.js';
import { createOrm } from '../../src/persistence/orm.js';
import { run } from '../support/processes.js';
import { dropTestData } from '../support/stack.js';
import { adminToken, startSystem, type System } from '../support/system.js';

let system: System;
let orm: MikroORM;

beforeAll(async () => {
  system = await startSystem();
  orm = await createOrm(system.config.databaseUrl, system.config.databaseSchema);
});

afterAll(async () => {
  await orm.close();
  await system.close();
  await dropTestData(system.config);
});

/**
 * Runs `flux-gate rehearse` (compiled) against the gate at `url`; its report from `out`. A run is
 * bounded by its --timeout and the default 60 s settle: the tests' limits leave room beyond
 * that for a loaded CI machine.
 */
async function rehearseAt(url: string, ...args: string[]) {
  const out = mkdtempSync(join(tmpdir(), 'rehearsal-'));
  const ran = await run(
    'node_modules/.bin/node',
    [
      'dist/src/cli/main.js',
      'rehearse',
      '--url',
      url,
      '--token',
      adminToken,
      '--out',
      out,
      ...args,
    ],
    { timeoutMs: 240_000 },
  );
  const report = JSON.parse(readFileSync(join(out, 'rehearsal.json'), 'utf8')) as RehearsalReport;
  return { ...ran, report, html: readFileSync(join(out, 'rehearsal.html'), 'utf8') };
}

/** {@link rehearseAt} the file's gate. */
const rehearse = (...args: string[]) => rehearseAt(system.gate.url, ...args);

const sum = (counts: Readonly<Record<string, number>>) =>
  Object.values(counts).reduce((a, b) => a + b, 0);

test('300 buyers on 50 units: the report agrees with Redis and PostgreSQL, no oversell', async () => {
  const { code, stdout, stderr, report, html } = await rehearse(
    ...['--buyers', '300', '--units', '50', '--rate', '100', '--burst', '20', '--timeout', '90'],
  );
  expect(code, `${stdout}\n${stderr}`).toBe(0);

  // What the buyers were told.
  expect(report.createdSale).toBe(true);
  expect(report.buyers).toBe(300);
  expect(report.outcome.arrived).toBe(300);
  expect(report.outcome.accepted).toBe(50);
  expect(report.outcome.unfinished).toBe(0);
  expect(report.outcome.notArrived).toBe(0);
  expect(report.outcome.accepted + sum(report.outcome.refused)).toBe(300);
  expect(report.outcome.refused.SOLD_OUT).toBe(250);
  expect(report.timedOut).toBe(false);
  expect(report.timeToSellOutMs).toBeGreaterThan(0);
  // Every answer lands in exactly one second, and the accepted answers are the accepted buyers.
  const perSecond: Record<string, number> = {};
  for (const s of report.perSecond)
    for (const [k, n] of Object.entries(s.answers)) perSecond[k] = (perSecond[k] ?? 0) + n;
  expect(perSecond).toEqual(report.answers);
  expect(report.answers.ACCEPTED).toBe(50);
  expect(report.latencyMs.all.count).toBe(sum(report.answers));
  expect(report.latencyMs.accepted.count).toBe(50);
  expect(report.latencyMs.all.p99).toBeGreaterThanOrEqual(report.latencyMs.all.p50);

  // The same sale, read straight from Redis and PostgreSQL.
  const { sku } = report;
  expect(await system.redis.get(system.keys.stock(sku))).toBe('0');
  const execute = orm.em.getConnection();
  const orders = await execute.execute<{ customer_id: string; status: string }[]>(
    'select customer_id, status from orders where sku = ?',
    [sku],
  );
  expect(orders).toHaveLength(report.outcome.accepted);
  expect(orders.every((o) => o.status === 'CONFIRMED')).toBe(true);
  expect(new Set(orders.map((o) => o.customer_id)).size).toBe(orders.length);
  const [product] = await execute.execute<{ stock: number; total_stock: string }[]>(
    'select stock, total_stock from product where sku = ?',
    [sku],
  );
  expect(product?.stock).toBe(0);
  expect(Number(product?.total_stock)).toBe(50);

  // The check the report made through the gate says the same.
  expect(report.check).toMatchObject({
    totalStock: 50,
    liveUnits: 0,
    databaseUnits: 0,
    inFlightUnits: 0,
    drift: 0,
    soldInRedis: 50,
    soldInDatabase: 50,
    settled: true,
    oversold: false,
    agrees: true,
  });
  expect(report.check.stats).toMatchObject({ accepted: 50, confirmed: 50, pending: 0 });

  // The summary is printed; the page embeds chart.js and the report's data.
  expect(stdout).toMatch(/oversell check\s+no oversell; Redis, PostgreSQL and the gate agree/);
  expect(stdout).toMatch(/buyers\s+accepted 50; refused SOLD_OUT 250; unfinished 0/);
  expect(html).toContain('Chart.js v4');
  expect(html).toContain(`"sku":"${sku}"`);
  expect(html).toContain('new Chart(');
}, 300_000);

test('time running out stops every buyer: the unfinished are reported, exit code 3', async () => {
  // One admission a second and a crowd of 40 at once: most are still queued when time is up.
  const { code, stdout, stderr, report } = await rehearse(
    ...['--buyers', '40', '--units', '1000', '--rate', '1', '--burst', '1', '--timeout', '3'],
  );
  expect(code, `${stdout}\n${stderr}`).toBe(3);
  expect(report.timedOut).toBe(true);
  expect(report.timeToSellOutMs).toBeNull();
  expect(report.outcome.unfinished).toBeGreaterThan(0);
  expect(
    report.outcome.accepted +
      sum(report.outcome.refused) +
      report.outcome.unfinished +
      report.outcome.notArrived,
  ).toBe(40);
  expect(report.outcome.accepted).toBeLessThan(40);
  // Queued for the sale's rate when time ran out.
  expect(report.outcome.unfinishedLastAnswer.RATE_LIMITED).toBeGreaterThan(0);
  expect(stdout).toContain('TIME RAN OUT');
  // Whatever was accepted before the end is exactly what Redis and PostgreSQL sold.
  expect(report.check).toMatchObject({ oversold: false, agrees: true, drift: 0 });
  expect(await system.redis.get(system.keys.stock(report.sku))).toBe(
    String(1000 - report.outcome.accepted),
  );
  const [row] = await orm.em
    .getConnection()
    .execute<{ n: string }[]>('select count(*) as n from orders where sku = ?', [report.sku]);
  expect(Number(row?.n)).toBe(report.outcome.accepted);
}, 300_000);

test('a gate that authenticates buyers: the crowd orders with a service token', async () => {
  // A gate in jwt mode whose identity provider nobody here signs for: only the service token passes.
  const { publicKey } = await generateKeyPair('ES256');
  const jwksFile = join(mkdtempSync(join(tmpdir(), 'rehearsal-jwks-')), 'jwks.json');
  writeFileSync(
    jwksFile,
    JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] }),
  );
  const serviceToken = 'rehearsal-service-token-0123456789';
  const guarded = await startSystem({
    buyerAuth: 'jwt',
    jwksFile,
    serviceTokens: [`rehearsal:${serviceToken}`],
  });
  try {
    const crowd = ['--buyers', '40', '--units', '10', '--timeout', '90'];
    const withToken = await rehearseAt(guarded.gate.url, ...crowd, '--service-token', serviceToken);
    expect(withToken.code, `${withToken.stdout}\n${withToken.stderr}`).toBe(0);
    expect(withToken.report.outcome).toMatchObject({ accepted: 10, refused: { SOLD_OUT: 30 } });
    expect(withToken.report.check).toMatchObject({ soldInDatabase: 10, agrees: true });

    const without = await rehearseAt(guarded.gate.url, ...crowd);
    expect(without.report.outcome).toMatchObject({ accepted: 0, refused: { UNAUTHENTICATED: 40 } });
    expect(await guarded.redis.get(guarded.keys.stock(without.report.sku))).toBe('10');
  } finally {
    await guarded.close();
    await dropTestData(guarded.config);
  }
}, 300_000);
