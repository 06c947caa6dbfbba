/**
 * The storefront in a real headless Chromium (Debian's, driven by playwright-core) against the
 * live gate: live stock, Buy → PENDING → CONFIRMED, the waiting room (the buyer's place in the
 * queue live from WatchTicket, their turn, sold out while waiting, a turn passed), and the
 * sold-out and purchase-limit messages. Screenshots of each state go to test-results/.
 * Also the CORS rules for pages on other origins.
 */
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { QueueService, TicketState } from '../../gen/fluxgate/v1/queue_pb.js';
import { buyInTurn, ticketOf } from '../support/queue.js';
import { startSystem, type System } from '../support/system.js';

let system: System;
let browser: Browser;
let queue: Client<typeof QueueService>;

beforeAll(async () => {
  // Turns of 2 s, so that a test sees one pass; the page orders within ms of its call.
  system = await startSystem({ corsOrigins: ['http://shop.example'], queueTurnMs: 2000 });
  queue = createClient(QueueService, createGrpcTransport({ baseUrl: system.gate.url }));
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

/** The text of the element `selector` of `page`. */
const text = async (page: Page, selector: string) => await page.locator(selector).textContent();

/** An order of `customerId` refused for the sale's rate: the ticket of their place in line. */
async function queueUp(sku: string, customerId: string): Promise<string> {
  const refusal = await system.orders
    .placeOrder({ sku, quantity: 1, customerId, idempotencyKey: `${customerId}-order` })
    .then(
      () => undefined,
      (error: unknown) => error,
    );
  const ticket = ticketOf(refusal);
  if (ticket === undefined) throw new Error(`${customerId} was not queued: ${String(refusal)}`);
  return ticket;
}

/** The ticket the page keeps in sessionStorage for `sku`. */
async function heldTicket(page: Page, sku: string): Promise<string> {
  const held = await page.evaluate((key) => sessionStorage.getItem(key), `flux-gate-ticket:${sku}`);
  return (JSON.parse(held ?? 'null') as { ticket: { token: string } }).ticket.token;
}

/** The page's calls of `method` (its path's last part) so far, as counted by {@link countCalls}. */
type Calls = (method: string) => number;

/** Counts the page's RPCs from now on. */
function countCalls(page: Page): Calls {
  const paths: string[] = [];
  page.on('request', (request) => paths.push(new URL(request.url()).pathname));
  return (method) => paths.filter((path) => path.endsWith(`/${method}`)).length;
}

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

  test('waits in the queue live (number, place, people ahead, wait), through a reload, then its turn places the order with the ticket', async () => {
    await system.createSale('WEB-Q1', { totalStock: 5, admissionRate: 1, admissionBurst: 1 });
    const page = await open('WEB-Q1', 'web-waiter', '5');
    const calls = countCalls(page);
    // One buyer takes the sale's only token and three queue (one called a second): the page's
    // buyer is fourth in line.
    await system.place('WEB-Q1', 'first');
    for (const customer of ['ahead-1', 'ahead-2', 'ahead-3']) await queueUp('WEB-Q1', customer);
    await page.click('#buy-button');
    await page.locator('#queue.WAITING').waitFor();
    // One reading of the panel's visible text: the stream may move it on meanwhile.
    const panel = await page.locator('#queue').innerText();
    const ahead = /People ahead\s+(\d+)/.exec(panel)?.[1];
    expect(ahead).toMatch(/^[23]$/);
    expect(panel).toContain("You're in the waiting room");
    expect(panel).toContain(
      `${String(ahead)} people ahead of you. We place your order as soon as it's your turn.`,
    );
    expect(panel).toMatch(/Your number\s+4\s+Place in line\s+4/);
    expect(panel).toMatch(/Estimated wait\s+about \d s/);
    await shot(page, 'queue-waiting');

    // The first in line is called: the page hears it from the stream.
    await page.locator('#queue-ahead', { hasText: '1' }).waitFor();
    expect(await text(page, '#queue-status')).toMatch(/^1 person ahead of you\./);
    // All of it from one PlaceOrder and one WatchTicket: no retries, no polling.
    expect([calls('PlaceOrder'), calls('WatchTicket'), calls('CheckTicket')]).toEqual([1, 1, 0]);

    // A reload resumes the wait with the ticket the tab kept.
    const ticket = await heldTicket(page, 'WEB-Q1');
    await page.reload();
    await page.locator('#queue-number', { hasText: '4' }).waitFor();
    await page.locator('#order-status.CONFIRMED').waitFor();
    expect(await text(page, '#queue-title')).toBe("It's your turn");
    expect(await text(page, '#queue-status')).toBe("It's your turn: your order is placed.");
    await shot(page, 'queue-your-turn');

    // The order went in with that ticket, and the tab no longer holds it.
    const { status } = await queue.checkTicket({ ticket });
    expect(status?.state).toBe(TicketState.USED);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    const orderId = (await text(page, '#order-id')) ?? '';
    const { order } = await system.client.orders.getOrder({ orderId });
    expect(order).toMatchObject({ sku: 'WEB-Q1', customerId: 'web-waiter' });
    await page.close();
  });

  test('sold out while waiting: the queue says so, and the page stops', async () => {
    await system.createSale('WEB-Q2', { totalStock: 2, admissionRate: 1, admissionBurst: 1 });
    const page = await open('WEB-Q2', 'web-second', '2');
    const calls = countCalls(page);
    // One buyer takes the token and a unit; another queues for the last unit, ahead of the page.
    await system.place('WEB-Q2', 'first');
    const ahead = await queueUp('WEB-Q2', 'ahead');
    await page.click('#buy-button');
    await page.locator('#queue.WAITING #queue-number', { hasText: '2' }).waitFor();
    // Called after about 1 s, the buyer ahead takes the last unit before the page's call (2 s).
    const bought = await buyInTurn(
      system.orders,
      {
        sku: 'WEB-Q2',
        quantity: 1,
        customerId: 'ahead',
        idempotencyKey: 'ahead-order',
        queueTicket: ahead,
      },
      Date.now() + 10_000,
    );
    expect(bought).toBeDefined();
    await page.locator('#queue.SOLD_OUT').waitFor();
    expect(await text(page, '#queue-title')).toBe('Sold out');
    expect(await text(page, '#queue-status')).toBe(
      'Sold out while you waited: the last units went to buyers ahead of you.',
    );
    expect(await page.locator('#queue-facts').isHidden()).toBe(true);
    expect(await page.locator('#order').isHidden()).toBe(true);
    await page.locator('#units-left', { hasText: '0' }).waitFor();
    expect(await page.locator('#buy-button').isDisabled()).toBe(true);
    // Said once, in the queue's panel.
    expect(await text(page, '#message')).toBe('');
    await shot(page, 'queue-sold-out');
    // The stream said it: the page never ordered again.
    expect(calls('PlaceOrder')).toBe(1);
    await page.close();
  });

  test('a turn that passed while the buyer was away: says so, and queues again on click', async () => {
    await system.createSale('WEB-Q3', { totalStock: 5, admissionRate: 1, admissionBurst: 1 });
    const url = `${system.gate.url}/?sku=WEB-Q3&customer=web-away`;
    const page = await open('WEB-Q3', 'web-away', '5');
    await system.place('WEB-Q3', 'first');
    await page.click('#buy-button');
    await page.locator('#queue.WAITING #queue-number', { hasText: '1' }).waitFor();
    const ticket = await heldTicket(page, 'WEB-Q3');
    // The buyer leaves; their number is called (about 1 s) and its 2 s turn passes.
    await page.goto('about:blank');
    for (let i = 0; ; i++) {
      const { status } = await queue.checkTicket({ ticket });
      if (status?.state === TicketState.EXPIRED) break;
      expect(i).toBeLessThan(50);
      await sleep(200);
    }
    await page.goto(url);
    await page.locator('#queue.EXPIRED').waitFor();
    expect(await text(page, '#queue-title')).toBe('Your turn passed');
    expect(await text(page, '#queue-status')).toMatch(
      /^Your turn passed before your order went in/,
    );
    expect(await page.locator('#queue-again').isVisible()).toBe(true);
    await shot(page, 'queue-turn-passed');

    // Queueing again: the sale is quiet now, so the order goes straight in.
    await page.click('#queue-again');
    await page.locator('#order-status.CONFIRMED').waitFor();
    expect(await page.locator('#queue').isHidden()).toBe(true);
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
