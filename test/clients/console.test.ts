/**
 * The sale console in a real headless Chromium (Debian's, driven by playwright-core) against a
 * live gate and worker: a wrong token refused with a clear message, signing in, listing,
 * creating and editing a sale, the live figures moving as orders go through the gate and the
 * worker, and pause, resume, restock and reconcile each through the page's confirmation
 * dialog, checked against the gate. Screenshots of each state go to test-results/console-*.png.
 */
import { execFileSync } from 'node:child_process';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SaleState } from '../../gen/fluxgate/v1/sale_pb.js';
import { adminAuth, adminToken, startSystem, type System } from '../support/system.js';

let system: System;
let browser: Browser;
let page: Page;
/** Uncaught errors of the page's scripts. */
const pageErrors: string[] = [];

beforeAll(async () => {
  // Figures every 200 ms, so the page sees them move within a test's orders.
  system = await startSystem({ saleWatchPollMs: 200 });
  const executablePath = execFileSync('bash', ['scripts/chromium.sh'], { encoding: 'utf8' }).trim();
  browser = await chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 1080 } });
  page.on('pageerror', (error) => pageErrors.push(error.message));
});
afterAll(async () => {
  await browser.close();
  await system.close();
});

const shot = (name: string) =>
  page.screenshot({ path: `test-results/console-${name}.png`, fullPage: true });

const text = async (selector: string) => (await page.locator(selector).textContent()) ?? '';

/** Waits until the live figure `id` reads `value`. */
const figureIs = (id: string, value: string) =>
  page.locator(`#${id}`, { hasText: new RegExp(`^${value}$`) }).waitFor();

/** Clicks `button`, checks the dialog asks about `question`, and confirms (or cancels). */
async function confirmAction(button: string, question: RegExp, answer: 'ok' | 'cancel' = 'ok') {
  await page.click(button);
  await page.locator('#confirm[open]').waitFor();
  expect(await text('#confirm-text')).toMatch(question);
  await shot(`confirm-${button.slice(1)}`);
  await page.click(`#confirm-${answer}`);
  await page.locator('#confirm[open]').waitFor({ state: 'detached' });
}

const saleOf = async (sku: string) =>
  (await system.admin.listSales({}, adminAuth)).sales.find((s) => s.sku === sku);

describe('sale console in Chromium', () => {
  test('a wrong token is refused with a clear message, and is not kept', async () => {
    await page.goto(`${system.gate.url}/console`);
    await shot('sign-in');
    await page.fill('#token', 'not-the-admin-token');
    await page.click('#sign-in button[type=submit]');
    await page.locator('#sign-in-message', { hasText: 'refused' }).waitFor();
    expect(await text('#sign-in-message')).toBe(
      'The admin token was refused: sign in again with a valid token.',
    );
    expect(await page.locator('#console').isHidden()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await shot('refused');
  });

  test('signs in and lists the sales; the token stays in this tab only', async () => {
    await system.createSale('CON-LISTED', { name: 'Listed sale' });
    await page.fill('#token', adminToken);
    await page.click('#sign-in button[type=submit]');
    await page.locator('#sale-list tr[data-sku="CON-LISTED"]').waitFor();
    expect(await text('#sale-list tr[data-sku="CON-LISTED"]')).toContain('Listed sale');
    expect(await page.locator('#sign-in').isHidden()).toBe(true);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    // A reload keeps the session (sessionStorage) and signs in again by itself.
    await page.reload();
    await page.locator('#sale-list tr[data-sku="CON-LISTED"]').waitFor();
    await shot('sales');
  });

  test('creates a sale, then edits it', async () => {
    await page.click('#new-sale');
    await page.fill('#sale-form [name=sku]', 'CON-1');
    await page.fill('#sale-form [name=name]', 'Console sale');
    await page.fill('#sale-form [name=totalStock]', '20');
    await page.fill('#sale-form [name=perCustomerLimit]', '5');
    await page.fill('#sale-form [name=admissionRate]', '1000');
    await page.fill('#sale-form [name=admissionBurst]', '1000');
    await shot('new-sale');
    await page.click('#save-sale');
    await page.locator('#message', { hasText: 'Created CON-1.' }).waitFor();
    await page.locator('#sale-list tr[data-sku="CON-1"]').waitFor();
    expect(await saleOf('CON-1')).toMatchObject({
      name: 'Console sale',
      totalStock: 20n,
      perCustomerLimit: 5,
      admissionRate: 1000,
    });

    // Selected after saving: the form edits it, its sku and stock fixed.
    await page.locator('#form-title', { hasText: 'Edit CON-1' }).waitFor();
    expect(await page.locator('#sale-form [name=sku]').getAttribute('readonly')).not.toBeNull();
    await page.fill('#sale-form [name=name]', 'Console sale, renamed');
    await page.fill('#sale-form [name=perCustomerLimit]', '3');
    await page.click('#save-sale');
    await page.locator('#message', { hasText: 'Saved CON-1.' }).waitFor();
    expect(await saleOf('CON-1')).toMatchObject({
      name: 'Console sale, renamed',
      totalStock: 20n,
      perCustomerLimit: 3,
    });
    await page.locator('#sale-list tr[data-sku="CON-1"]', { hasText: 'renamed' }).waitFor();
    await shot('edited');
  });

  test('the live figures move as orders go through the gate and the worker', async () => {
    await figureIs('units-left', '20');
    await figureIs('accepted', '0');
    for (let i = 0; i < 4; i++) await system.place('CON-1', `console-buyer-${i}`);
    await figureIs('accepted', '4');
    await figureIs('units-left', '16');
    await figureIs('confirmed', '4');
    await figureIs('pending', '0');
    await figureIs('outbox-depth', '0');
    await figureIs('consumer-lag', '0');
    // The orders showed as a rate in the chart: its peak of the last minute is above zero.
    expect(Number(await text('#peak-accepted'))).toBeGreaterThan(0);
    expect(await text('#live-state')).toBe('open');
    await shot('live');
  });

  test('pause and resume, each after a confirmation; a cancel changes nothing', async () => {
    await confirmAction('#pause', /^Pause CON-1\?/, 'cancel');
    await page.locator('#message', { hasText: 'Cancelled' }).waitFor();
    expect((await saleOf('CON-1'))?.paused).toBe(false);

    await confirmAction('#pause', /^Pause CON-1\?/);
    await page.locator('#message', { hasText: 'Paused CON-1.' }).waitFor();
    expect((await saleOf('CON-1'))?.paused).toBe(true);
    await page.locator('#live-state', { hasText: 'paused' }).waitFor();
    await expect(system.place('CON-1', 'console-while-paused')).rejects.toThrow(/paused/i);
    await shot('paused');

    await confirmAction('#resume', /^Resume CON-1\?/);
    await page.locator('#message', { hasText: 'Resumed CON-1.' }).waitFor();
    await page.locator('#live-state', { hasText: 'open' }).waitFor();
    const stock = await system.inventory.getStock({ sku: 'CON-1' });
    expect(stock.stock?.state).toBe(SaleState.OPEN);
  });

  test('restock adds the units once; reconcile reports no drift, then repairs one', async () => {
    await page.fill('#restock-units', '5');
    await confirmAction('#restock', /^Restock CON-1 with 5 units\?/);
    await page.locator('#message', { hasText: 'Restocked CON-1 with 5 units.' }).waitFor();
    await figureIs('units-left', '21');
    expect((await saleOf('CON-1'))?.totalStock).toBe(25n);
    // The form follows: saving the sale now keeps the restocked total.
    await expect
      .poll(() => page.inputValue('#sale-form [name=totalStock]'), { timeout: 30_000 })
      .toBe('25');
    await page.fill('#sale-form [name=name]', 'Console sale, restocked');
    await page.click('#save-sale');
    await page.locator('#message', { hasText: 'Saved CON-1.' }).waitFor();
    expect(await saleOf('CON-1')).toMatchObject({
      name: 'Console sale, restocked',
      totalStock: 25n,
    });

    await confirmAction('#reconcile', /^Reconcile CON-1\?/);
    await page.locator('#message', { hasText: 'Reconciled CON-1: no drift.' }).waitFor();
    expect(await text('#reconcile-report')).toBe('Live 21, database 21, in flight 0, drift 0.');

    // The live counter drifts (3 units too many): reconcile shows the drift and repairs it.
    await system.redis.incrby(system.keys.stock('CON-1'), 3);
    await figureIs('units-left', '24');
    await confirmAction('#reconcile', /^Reconcile CON-1\?/);
    await page.locator('#message', { hasText: 'Reconciled CON-1: drift 3 repaired.' }).waitFor();
    expect(await text('#reconcile-report')).toBe('Live 24, database 21, in flight 0, drift 3.');
    await figureIs('units-left', '21');
    await shot('reconciled');
  });

  test('signing out forgets the token; no script error all along', async () => {
    await page.click('#sign-out');
    await page.locator('#sign-in').waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    expect(pageErrors).toEqual([]);
  });
});
