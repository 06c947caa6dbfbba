/**
 * The storefront: a sale's live stock (WatchStock), a Buy button (PlaceOrder with retries under
 * one idempotency key), the order going PENDING → CONFIRMED (WatchOrder), and the sale's waiting
 * room: refused for the sale's rate, the buyer holds a queue ticket and the page follows it live
 * (WatchTicket), then places the order with it, under the same key, as soon as it is called.
 * The ticket is kept in sessionStorage, so a reload resumes the wait. Connect over fetch, from
 * the gate's own origin. `?sku=` picks the sale; `?customer=` the buyer (otherwise one is kept
 * in localStorage).
 */
import { Code, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-web';
import { InventoryService } from '../gen/fluxgate/v1/inventory_pb.js';
import { OrderStatus, RejectReason } from '../gen/fluxgate/v1/order_pb.js';
import { OrderGateService, type PlaceOrderResponse } from '../gen/fluxgate/v1/order_gate_pb.js';
import { QueueService, TicketState, type TicketStatus } from '../gen/fluxgate/v1/queue_pb.js';
import { SaleState, type Stock } from '../gen/fluxgate/v1/sale_pb.js';
import { durationMs, timestampMs } from '@bufbuild/protobuf/wkt';
import { describeFailure, placeOrder, type FailureView } from '../src/client/retry.js';
import { isFinalTicketState } from '../src/domain/queue.js';

const transport = createConnectTransport({ baseUrl: location.origin });
const orders = createClient(OrderGateService, transport);
const inventory = createClient(InventoryService, transport);
const queue = createClient(QueueService, transport);

const params = new URLSearchParams(location.search);
const sku = params.get('sku') ?? 'DEMO-1';
const customerId = params.get('customer') ?? storedCustomer();

function storedCustomer(): string {
  const existing = localStorage.getItem('flux-gate-customer');
  if (existing !== null) return existing;
  const id = `buyer-${crypto.randomUUID().slice(0, 8)}`;
  localStorage.setItem('flux-gate-customer', id);
  return id;
}

function element(id: string): HTMLElement {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`missing #${id}`);
  return found;
}

const ui = {
  sku: element('sku'),
  state: element('state'),
  unitsLeft: element('units-left'),
  total: element('total'),
  barFill: element('bar-fill'),
  window: element('window'),
  form: element('buy') as HTMLFormElement,
  quantity: element('quantity') as HTMLInputElement,
  buy: element('buy-button') as HTMLButtonElement,
  queue: element('queue'),
  queueTitle: element('queue-title'),
  queueStatus: element('queue-status'),
  queueFacts: element('queue-facts'),
  queueNumber: element('queue-number'),
  queuePosition: element('queue-position'),
  queueAhead: element('queue-ahead'),
  queueWait: element('queue-wait'),
  queueAgain: element('queue-again') as HTMLButtonElement,
  order: element('order'),
  orderId: element('order-id'),
  orderStatus: element('order-status'),
  message: element('message'),
  customer: element('customer'),
};

const stateLabel: Record<SaleState, string> = {
  [SaleState.UNSPECIFIED]: 'unknown',
  [SaleState.SCHEDULED]: 'opens soon',
  [SaleState.OPEN]: 'on sale now',
  [SaleState.PAUSED]: 'paused',
  [SaleState.SOLD_OUT]: 'sold out',
  [SaleState.ENDED]: 'ended',
};

/** What a buyer is told for each final refusal. */
const refusalText: Record<string, string> = {
  SOLD_OUT: 'Sold out: every unit has found a buyer.',
  PURCHASE_LIMIT_REACHED: "You've reached this sale's limit per customer.",
  SALE_NOT_OPEN: "The sale hasn't started yet.",
  SALE_PAUSED: 'The sale is paused. Try again in a moment.',
  SALE_ENDED: 'The sale has ended.',
  SALE_NOT_FOUND: 'There is no such sale.',
  RATE_LIMITED: 'Still very busy. Please try again.',
  TICKET_INVALID: 'Your place in the queue could not be read. Please buy again.',
  TICKET_USED: 'Your turn in the queue went to another order of yours (another tab?).',
};

let buying = false;
let saleOpen = false;

function say(text: string, isError = false): void {
  ui.message.textContent = text;
  ui.message.className = isError ? 'error' : '';
}

function showStock(stock: Stock): void {
  ui.state.textContent = stateLabel[stock.state];
  ui.unitsLeft.textContent = String(stock.unitsLeft);
  ui.total.textContent = String(stock.totalStock);
  const share = stock.totalStock > 0n ? Number(stock.unitsLeft) / Number(stock.totalStock) : 0;
  ui.barFill.style.width = `${String(Math.round(share * 100))}%`;
  const when = (t: typeof stock.startsAt) =>
    t === undefined ? '?' : new Date(timestampMs(t)).toLocaleString();
  ui.window.textContent = `${when(stock.startsAt)} – ${when(stock.endsAt)}`;
  saleOpen = stock.state === SaleState.OPEN;
  ui.buy.disabled = buying || !saleOpen;
  ui.queueAgain.disabled = !saleOpen;
  const queueSaidSoldOut = !ui.queue.hidden && ui.queue.classList.contains('SOLD_OUT');
  if (stock.state === SaleState.SOLD_OUT && !buying && ui.order.hidden && !queueSaidSoldOut) {
    say(refusalText.SOLD_OUT ?? '');
  }
}

/** Follows the sale's stock for as long as the page is open, reconnecting after errors. */
async function watchStock(): Promise<void> {
  for (;;) {
    try {
      for await (const { stock } of inventory.watchStock({ sku })) {
        if (stock) showStock(stock);
      }
    } catch (error) {
      const failure = describeFailure(error);
      ui.state.textContent = failure.reason === 'SALE_NOT_FOUND' ? 'no such sale' : 'reconnecting…';
      if (failure.reason === 'SALE_NOT_FOUND') return;
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

function showOrder(orderId: string, status: OrderStatus, reject = RejectReason.UNSPECIFIED): void {
  ui.order.hidden = false;
  ui.orderId.textContent = orderId;
  const name = OrderStatus[status];
  ui.orderStatus.className = `status ${name}`;
  ui.orderStatus.textContent =
    status === OrderStatus.PENDING
      ? 'PENDING: received, confirming…'
      : status === OrderStatus.CONFIRMED
        ? 'CONFIRMED: it is yours.'
        : `REJECTED: ${reject === RejectReason.INSUFFICIENT_STOCK ? 'the last units went to others' : RejectReason[reject]}`;
}

/** A place in the sale's queue, as a RATE_LIMITED refusal gave it. */
type Ticket = NonNullable<FailureView['ticket']>;

/** One logical order: what is bought, under which key, and the ticket it waits with. */
interface Purchase {
  readonly quantity: number;
  readonly idempotencyKey: string;
  readonly ticket?: Ticket;
}

/** A purchase waiting in the queue, as this tab keeps it across reloads. */
interface HeldTicket extends Purchase {
  readonly customerId: string;
  readonly ticket: Ticket;
}

const heldTicketKey = `flux-gate-ticket:${sku}`;

/** The ticket this tab waits with for this sale and buyer, if any. */
function heldTicket(): HeldTicket | undefined {
  const text = sessionStorage.getItem(heldTicketKey);
  if (text === null) return undefined;
  try {
    const held = JSON.parse(text) as HeldTicket;
    return held.customerId === customerId ? held : undefined;
  } catch {
    return undefined;
  }
}

function holdTicket(purchase: Purchase, ticket: Ticket): void {
  const held: HeldTicket = { ...purchase, customerId, ticket };
  sessionStorage.setItem(heldTicketKey, JSON.stringify(held));
}

function dropTicket(): void {
  sessionStorage.removeItem(heldTicketKey);
}

/**
 * How long one WatchTicket call may last before the page watches again: within the gate's
 * longest deadline (30 s by default), so the call ends by the page's choice, not the gate's.
 */
const watchForMs = 25_000;

/** When the ticket is expected to be called (ms since the epoch), while it waits. */
let calledAroundMs: number | undefined;
let waitTimer: ReturnType<typeof setInterval> | undefined;

function plural(n: bigint, one: string, many: string): string {
  return `${String(n)} ${n === 1n ? one : many}`;
}

/** The estimated wait, counted down locally between the stream's updates. */
function showWait(): void {
  if (calledAroundMs === undefined) return;
  const seconds = Math.ceil((calledAroundMs - Date.now()) / 1000);
  ui.queueWait.textContent =
    seconds <= 0
      ? 'any moment'
      : seconds < 60
        ? `about ${String(seconds)} s`
        : `about ${String(Math.ceil(seconds / 60))} min`;
}

/** How the queue panel stands (its class, for the style). */
type QueuePanel = 'WAITING' | 'CALLED' | 'SOLD_OUT' | 'SALE_ENDED' | 'EXPIRED';

/** Shows the queue panel: its title and (announced) status line, its facts or not. */
function showQueue(title: string, status: string, facts: boolean, state: QueuePanel): void {
  ui.queue.hidden = false;
  ui.queue.className = `queue ${state}`;
  ui.queueTitle.textContent = title;
  ui.queueStatus.textContent = status;
  ui.queueFacts.hidden = !facts;
  ui.queueAgain.hidden = state !== 'EXPIRED';
  if (state !== 'WAITING') {
    clearInterval(waitTimer);
    waitTimer = undefined;
    calledAroundMs = undefined;
  }
}

/** The ticket was called and its turn passed unused: the buyer may queue again. */
function showTurnPassed(): void {
  showQueue(
    'Your turn passed',
    'Your turn passed before your order went in. Join the queue again for a new place, at the end of the line.',
    false,
    'EXPIRED',
  );
}

/** Shows one update of the watched ticket. */
function showTicket(status: TicketStatus): void {
  ui.queueNumber.textContent = String(status.number);
  ui.queuePosition.textContent = String(status.position);
  ui.queueAhead.textContent = String(status.peopleAhead);
  switch (status.state) {
    case TicketState.WAITING:
      showQueue(
        "You're in the waiting room",
        status.peopleAhead === 0n
          ? "You're next. We place your order as soon as it's your turn."
          : `${plural(status.peopleAhead, 'person', 'people')} ahead of you. We place your order as soon as it's your turn.`,
        true,
        'WAITING',
      );
      calledAroundMs = Date.now() + (status.estimatedWait ? durationMs(status.estimatedWait) : 0);
      showWait();
      waitTimer ??= setInterval(showWait, 1000);
      break;
    case TicketState.CALLED:
    case TicketState.USED:
      ui.queueWait.textContent = 'now';
      showQueue("It's your turn", "It's your turn: placing your order…", true, 'CALLED');
      break;
    case TicketState.SOLD_OUT:
      showQueue(
        'Sold out',
        'Sold out while you waited: the last units went to buyers ahead of you.',
        false,
        'SOLD_OUT',
      );
      break;
    case TicketState.SALE_ENDED:
      showQueue('The sale has ended', 'The sale ended while you waited.', false, 'SALE_ENDED');
      break;
    case TicketState.EXPIRED:
      showTurnPassed();
      break;
    case TicketState.UNSPECIFIED:
      break;
  }
}

/** QueueService's refusals of the ticket itself: watching again cannot help. */
const ticketRefusals: ReadonlySet<string> = new Set(['TICKET_INVALID', 'SALE_NOT_FOUND']);

/**
 * Follows the ticket live until a final state, which it returns. A watch that ends without one
 * (its deadline) is followed by another; a dropped connection too, after a pause. Throws when
 * the gate refuses the ticket itself.
 */
async function waitForTurn(ticket: Ticket): Promise<TicketState> {
  for (;;) {
    try {
      for await (const { status } of queue.watchTicket(
        { ticket: ticket.token },
        { timeoutMs: watchForMs },
      )) {
        if (status === undefined) continue;
        say('');
        showTicket(status);
        if (isFinalTicketState(TicketState[status.state])) return status.state;
      }
    } catch (error) {
      const failure = describeFailure(error);
      if (ticketRefusals.has(failure.reason)) throw error;
      if (failure.code !== Code.DeadlineExceeded) {
        say('Reconnecting to the queue…');
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    }
  }
}

/**
 * Places the order with retries under its key: its acceptance, or the ticket of a refusal for
 * the sale's rate (the queue then says when to try again, so no retry is made meanwhile).
 */
async function place(purchase: Purchase): Promise<PlaceOrderResponse | Ticket> {
  const queued = new AbortController();
  const refusal: { ticket?: Ticket } = {};
  try {
    const placed = await placeOrder(
      orders,
      {
        sku,
        customerId,
        quantity: purchase.quantity,
        idempotencyKey: purchase.idempotencyKey,
        queueTicket: purchase.ticket?.token,
      },
      {
        policy: { maxAttempts: 20, attemptTimeoutMs: 10_000, baseDelayMs: 250, maxDelayMs: 30_000 },
        signal: queued.signal,
        onRetry: (_attempt, failure: FailureView, waitMs) => {
          if (failure.ticket !== undefined) {
            refusal.ticket = failure.ticket;
            queued.abort();
          } else if (failure.reason === 'RATE_LIMITED') {
            // No ticket (the queue could not issue one): retry when the gate says.
            showQueue(
              "You're in the waiting room",
              `Very busy right now: we try again in ${String(Math.ceil(waitMs / 1000))} s.`,
              false,
              'WAITING',
            );
          } else say('Connection trouble; trying again…');
        },
      },
    );
    return placed.response;
  } catch (error) {
    if (refusal.ticket !== undefined) return refusal.ticket;
    throw error;
  }
}

/**
 * Buys: places the order, and whenever the gate hands out a queue ticket waits for its call and
 * places the order again with it, under the same key; then follows the order. Ends when the
 * order settles or is refused, or the queue says it cannot be (sold out, ended, turn passed).
 */
async function buy(purchase: Purchase): Promise<void> {
  buying = true;
  ui.buy.disabled = true;
  ui.order.hidden = true;
  ui.queue.hidden = true;
  ui.quantity.value = String(purchase.quantity);
  say('');
  try {
    let { ticket } = purchase;
    for (;;) {
      if (ticket !== undefined) {
        holdTicket(purchase, ticket);
        const state = await waitForTurn(ticket);
        // USED: this order went in already (before a reload); placing it again under its key
        // gets its answer.
        if (state !== TicketState.CALLED && state !== TicketState.USED) {
          dropTicket();
          return;
        }
      }
      const placed = await place({ ...purchase, ticket });
      if ('token' in placed) {
        ticket = placed;
        continue;
      }
      dropTicket();
      if (ticket !== undefined)
        showQueue("It's your turn", "It's your turn: your order is placed.", true, 'CALLED');
      else ui.queue.hidden = true;
      say('');
      const { orderId } = placed;
      showOrder(orderId, placed.status);
      for await (const { order } of orders.watchOrder({ orderId })) {
        if (order) showOrder(orderId, order.status, order.rejectReason);
      }
      return;
    }
  } catch (error) {
    dropTicket();
    const failure = describeFailure(error);
    // Called, but the order reached the gate after the turn (a slow connection, say).
    if (failure.reason === 'TICKET_EXPIRED') {
      showTurnPassed();
      return;
    }
    ui.queue.hidden = true;
    const left = failure.metadata.units_left;
    if (failure.reason === 'INSUFFICIENT_STOCK' && left !== undefined)
      say(`Only ${left} left: choose ${left} or fewer.`, true);
    else say(refusalText[failure.reason] ?? `${failure.reason}: ${failure.message}`, true);
  } finally {
    buying = false;
    ui.buy.disabled = !saleOpen;
  }
}

ui.sku.textContent = sku;
ui.customer.textContent = customerId;
ui.buy.disabled = true;
/** A new purchase of the chosen quantity, under a new key. */
function buyNow(): void {
  void buy({ quantity: ui.quantity.valueAsNumber, idempotencyKey: crypto.randomUUID() });
}
ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  buyNow();
});
ui.queueAgain.addEventListener('click', buyNow);
void watchStock();
// A reload resumes the wait with the ticket this tab holds.
const held = heldTicket();
if (held !== undefined) void buy(held);
