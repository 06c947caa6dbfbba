/**
 * The storefront in a real headless Chromium (Debian's, driven by playwright-core) against the
 * live gate: live stock, Buy → PENDING → CONFIRMED, the waiting room while rate-limited, and
 * the sold-out and purchase-limit messages. Screenshots of each state go to test-results/.
 * Also the CORS rules for pages on other origins.
 */
import { execFileSync } from 'node:child_process';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startSystem, type System } from '../support/system.js';

let system: System;
let browser: Browser;

beforeAll(async () => {
  system = await startSystem({ corsOrigins: ['http://shop.example'] });
  const executablePath = execFileSync('bash', ['scripts/chromium.sh'], { encoding: 'utf8' }).trim();
  browser = await chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});
afterAll(async () => {
  await browser.close();
  await system.close();
});

/** Opens the storefront for `sku` as `customer` and waits for the live stock. */
async function open(sku: string, customer: string, unitsLeft: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 640, height: 720 } });
  await page.goto(`${system.gate.url}/?sku=${sku}&customer=${customer}`);
  await page.locator('#units-left', { hasText: unitsLeft }).waitFor();
  return page;
}

const shot = (page: Page, name: string) =>
  page.screenshot({ path: `test-results/storefront-${name}.png`, fullPage: true });

describe('storefront in Chromium', () => {
  test('loads with nothing failing: every request answered, no console error, its own icon', async () => {
    await system.createSale('WEB-0', { totalStock: 3 });
    const page = await browser.newPage();
    const failed: string[] = [];
    page.on('response', (r) => {
      if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
    });
    page.on('requestfailed', (r) =>
      failed.push(`${r.failure()?.errorText ?? 'failed'} ${r.url()}`),
    );
    page.on('console', (m) => {
      if (m.type() === 'error') failed.push(`console: ${m.text()}`);
    });
    await page.goto(`${system.gate.url}/?sku=WEB-0&customer=web-icon`);
    await page.locator('#units-left', { hasText: '3' }).waitFor();
    const href = await page.locator('link[rel="icon"]').getAttribute('href');
    const icon = await fetch(new URL(href ?? '/favicon.ico', page.url()));
    expect(icon.status).toBe(200);
    expect(icon.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    expect(failed).toEqual([]);
    await page.close();
  });

  test('shows the live stock, buys, and follows the order to CONFIRMED', async () => {
    await system.createSale('WEB-1', { totalStock: 3 });
    const page = await open('WEB-1', 'web-buyer', '3');
    expect(await page.locator('#state').textContent()).toBe('on sale now');
    await shot(page, 'open');

    await page.click('#buy-button');
    await page.locator('#order-status.CONFIRMED').waitFor();
    expect(await page.locator('#order-status').textContent()).toBe('CONFIRMED: it is yours.');
    // The counter moved without a reload (WatchStock).
    await page.locator('#units-left', { hasText: '2' }).waitFor();
    await shot(page, 'confirmed');

    // The page's order is the one the gate knows.
    const orderId = (await page.locator('#order-id').textContent()) ?? '';
    const { order } = await system.client.orders.getOrder({ orderId });
    expect(order).toMatchObject({ sku: 'WEB-1', quantity: 1, customerId: 'web-buyer' });
    await page.close();
  });

  test('waits in the waiting room while rate-limited, then gets in', async () => {
    await system.createSale('WEB-2', { totalStock: 5, admissionRate: 1, admissionBurst: 1 });
    const page = await open('WEB-2', 'web-waiter', '5');
    // Take the sale's only token, so the page's order must wait for the next one.
    await system.client.placeOrder({ sku: 'WEB-2', quantity: 1, customerId: 'other' });
    await page.click('#buy-button');
    await page.locator('#waiting-room:not([hidden])').waitFor();
    await shot(page, 'waiting-room');
    expect(await page.locator('#waiting-room h2').textContent()).toBe("You're in the waiting room");
    await page.locator('#order-status.CONFIRMED').waitFor();
    expect(await page.locator('#waiting-room').isHidden()).toBe(true);
    await page.close();
  });

  test('says sold out and disables Buy; says when the per-customer limit is reached', async () => {
    await system.createSale('WEB-3', { totalStock: 1 });
    await system.client.placeOrder({ sku: 'WEB-3', quantity: 1, customerId: 'first' });
    const soldOut = await open('WEB-3', 'web-late', '0');
    await soldOut.locator('#state', { hasText: 'sold out' }).waitFor();
    expect(await soldOut.locator('#message').textContent()).toBe(
      'Sold out: every unit has found a buyer.',
    );
    expect(await soldOut.locator('#buy-button').isDisabled()).toBe(true);
    await shot(soldOut, 'sold-out');
    await soldOut.close();

    await system.createSale('WEB-4', { totalStock: 10, perCustomerLimit: 1 });
    await system.client.placeOrder({ sku: 'WEB-4', quantity: 1, customerId: 'web-limited' });
    const limited = await open('WEB-4', 'web-limited', '9');
    await limited.click('#buy-button');
    await limited.locator('#message.error').waitFor();
    expect(await limited.locator('#message').textContent()).toBe(
      "You've reached this sale's limit per customer.",
    );
    await shot(limited, 'limit-reached');
    await limited.close();
  });
});

describe('CORS', () => {
  const preflight = (origin: string) =>
    fetch(`${system.gate.url}/fluxgate.v1.OrderGateService/PlaceOrder`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,connect-protocol-version,idempotency-key',
      },
    });

  test('a configured origin may call with the Connect headers and idempotency-key', async () => {
    const res = await preflight('http://shop.example');
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://shop.example');
    const allowed = res.headers.get('access-control-allow-headers')?.toLowerCase() ?? '';
    for (const header of ['content-type', 'connect-protocol-version', 'idempotency-key']) {
      expect(allowed).toContain(header);
    }
  });

  test('any other origin is not allowed', async () => {
    const res = await preflight('http://evil.example');
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  test('a call names its origin: the CORS headers; a call without one (not a browser): none', async () => {
    const call = (headers: Record<string, string>) =>
      fetch(`${system.gate.url}/grpc.health.v1.Health/Check`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: '{}',
      });
    const browser = await call({ origin: 'http://shop.example' });
    expect(browser.status).toBe(200);
    expect(browser.headers.get('access-control-allow-origin')).toBe('http://shop.example');
    expect(browser.headers.get('access-control-expose-headers')?.toLowerCase()).toContain(
      'grpc-status',
    );
    const backend = await call({});
    expect(backend.status).toBe(200);
    expect([...backend.headers.keys()].filter((h) => h.startsWith('access-control-'))).toEqual([]);
  });
});
