/**
 * The storefront: a sale's live stock (WatchStock), a Buy button (PlaceOrder with retries under
 * one idempotency key), the order going PENDING → CONFIRMED (WatchOrder), and a waiting room
 * with a countdown while the gate rate-limits. Connect over fetch, from the gate's own origin.
 * `?sku=` picks the sale; `?customer=` the buyer (otherwise one is kept in localStorage).
 */
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-web';
import { InventoryService } from '../gen/fluxgate/v1/inventory_pb.js';
import { OrderStatus, RejectReason } from '../gen/fluxgate/v1/order_pb.js';
import { OrderGateService } from '../gen/fluxgate/v1/order_gate_pb.js';
import { SaleState, type Stock } from '../gen/fluxgate/v1/sale_pb.js';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { describeFailure, placeOrder, type FailureView } from '../src/client/retry.js';

const transport = createConnectTransport({ baseUrl: location.origin });
const orders = createClient(OrderGateService, transport);
const inventory = createClient(InventoryService, transport);

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
  waitingRoom: element('waiting-room'),
  countdown: element('countdown'),
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
  if (stock.state === SaleState.SOLD_OUT && !buying && ui.order.hidden) {
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

/** Shows the waiting room and counts down `ms`. */
function waitingRoom(ms: number): void {
  const until = Date.now() + ms;
  ui.waitingRoom.hidden = false;
  const tick = () => {
    const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
    ui.countdown.textContent = String(left);
    if (left > 0 && !ui.waitingRoom.hidden) setTimeout(tick, 250);
  };
  tick();
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

async function buy(): Promise<void> {
  buying = true;
  ui.buy.disabled = true;
  ui.order.hidden = true;
  say('');
  try {
    const placed = await placeOrder(
      orders,
      { sku, customerId, quantity: ui.quantity.valueAsNumber },
      {
        policy: { maxAttempts: 20, attemptTimeoutMs: 10_000, baseDelayMs: 250, maxDelayMs: 30_000 },
        onRetry: (_attempt, failure: FailureView, waitMs) => {
          if (failure.reason === 'RATE_LIMITED') waitingRoom(waitMs);
          else say('Connection trouble; trying again…');
        },
      },
    );
    ui.waitingRoom.hidden = true;
    say('');
    const { orderId } = placed.response;
    showOrder(orderId, placed.response.status);
    for await (const { order } of orders.watchOrder({ orderId })) {
      if (order) showOrder(orderId, order.status, order.rejectReason);
    }
  } catch (error) {
    ui.waitingRoom.hidden = true;
    const failure = describeFailure(error);
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
ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  void buy();
});
void watchStock();
