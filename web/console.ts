/**
 * The sale console: an operator signs in with an admin token (kept in sessionStorage only),
 * lists, creates and edits sales, pauses, resumes, restocks and reconciles them after a
 * confirmation, and follows the selected sale's live figures from WatchSaleStats, a stream
 * the gate feeds from one read per sale per interval however many consoles are open. Every
 * action is an AdminService call over Connect, from the gate's own origin.
 */
import { create } from '@bufbuild/protobuf';
import { durationMs, timestampDate, timestampFromMs, timestampMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createClient, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-web';
import {
  CategoryScale,
  Chart,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  PointElement,
} from 'chart.js';
import { AdminService, type SaleLiveStats } from '../gen/fluxgate/v1/admin_pb.js';
import { SaleSchema, SaleState, type Sale } from '../gen/fluxgate/v1/sale_pb.js';
import { restock } from '../src/client/retry.js';

Chart.register(CategoryScale, Legend, LineController, LineElement, LinearScale, PointElement);

const tokenKey = 'flux-gate-admin-token';
/** Seconds of rates the chart keeps. */
const chartPoints = 60;

function element(id: string): HTMLElement {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`missing #${id}`);
  return found;
}

const ui = {
  signIn: element('sign-in') as HTMLFormElement,
  token: element('token') as HTMLInputElement,
  signInMessage: element('sign-in-message'),
  signOut: element('sign-out') as HTMLButtonElement,
  console: element('console'),
  saleList: element('sale-list'),
  newSale: element('new-sale') as HTMLButtonElement,
  message: element('message'),
  form: element('sale-form') as HTMLFormElement,
  formTitle: element('form-title'),
  actions: element('actions'),
  pause: element('pause') as HTMLButtonElement,
  resume: element('resume') as HTMLButtonElement,
  restockUnits: element('restock-units') as HTMLInputElement,
  restock: element('restock') as HTMLButtonElement,
  reconcile: element('reconcile') as HTMLButtonElement,
  reconcileReport: element('reconcile-report'),
  live: element('live'),
  liveSku: element('live-sku'),
  liveState: element('live-state'),
  readAt: element('read-at'),
  confirm: element('confirm') as HTMLDialogElement,
  confirmText: element('confirm-text'),
  chart: element('chart') as HTMLCanvasElement,
};

/** Sends the signed-in token on every call. */
const withToken: Interceptor = (next) => (req) => {
  req.header.set('authorization', `Bearer ${sessionStorage.getItem(tokenKey) ?? ''}`);
  return next(req);
};
const admin = createClient(
  AdminService,
  createConnectTransport({ baseUrl: location.origin, interceptors: [withToken] }),
);

const stateLabel: Record<SaleState, string> = {
  [SaleState.UNSPECIFIED]: 'unknown',
  [SaleState.SCHEDULED]: 'scheduled',
  [SaleState.OPEN]: 'open',
  [SaleState.PAUSED]: 'paused',
  [SaleState.SOLD_OUT]: 'sold out',
  [SaleState.ENDED]: 'ended',
};

let sales: Sale[] = [];
/** The sale shown, and the watch of its figures. */
let selected: { sku: string; watch: AbortController } | undefined;

const chart = new Chart<'line', number[], string>(ui.chart, {
  type: 'line',
  data: {
    labels: [],
    datasets: [
      { label: 'accepted /s', data: [], borderColor: '#2f855a', pointRadius: 0 },
      { label: 'refused /s', data: [], borderColor: '#c53030', pointRadius: 0 },
    ],
  },
  options: {
    animation: false,
    maintainAspectRatio: false,
    scales: { y: { beginAtZero: true } },
  },
});

function say(text: string, isError = false): void {
  ui.message.textContent = text;
  ui.message.className = isError ? 'error' : 'ok';
}

/** What a failed call tells the operator; a refused token signs out. */
function failed(error: unknown, what: string): void {
  const e = ConnectError.from(error);
  if (e.code === Code.Unauthenticated) {
    signOut('The admin token was refused: sign in again with a valid token.');
    return;
  }
  say(`${what} failed: ${Code[e.code]}: ${e.rawMessage}`, true);
}

function signOut(reason = ''): void {
  sessionStorage.removeItem(tokenKey);
  selected?.watch.abort();
  selected = undefined;
  ui.console.hidden = true;
  ui.signOut.hidden = true;
  ui.signIn.hidden = false;
  ui.signInMessage.textContent = reason;
}

/** Lists the sales; resolves false (signed out) when the token is refused. */
async function loadSales(): Promise<boolean> {
  try {
    sales = (await admin.listSales({})).sales;
  } catch (error) {
    failed(error, 'Listing the sales');
    return ConnectError.from(error).code !== Code.Unauthenticated;
  }
  ui.saleList.replaceChildren(
    ...sales.map((sale) => {
      const row = document.createElement('tr');
      row.dataset.sku = sale.sku;
      if (sale.sku === selected?.sku) row.className = 'selected';
      const cells = [sale.sku, sale.name, String(sale.totalStock), sale.paused ? 'paused' : ''];
      row.replaceChildren(
        ...cells.map((text) => {
          const cell = document.createElement('td');
          cell.textContent = text;
          return cell;
        }),
      );
      row.addEventListener('click', () => {
        select(sale.sku);
      });
      return row;
    }),
  );
  return true;
}

async function start(): Promise<void> {
  ui.signIn.hidden = true;
  ui.console.hidden = false;
  ui.signOut.hidden = false;
  if (await loadSales()) say(`Signed in: ${String(sales.length)} sales.`);
}

/** `ms` as the value of a datetime-local input, in local time. */
function localInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

const field = (name: string) => ui.form.elements.namedItem(name) as HTMLInputElement;

/** Shows the form for `sale`, or an empty one for a new sale. */
function showForm(sale: Sale | undefined): void {
  ui.form.hidden = false;
  ui.formTitle.textContent = sale === undefined ? 'New sale' : `Edit ${sale.sku}`;
  const now = Date.now();
  const values: Record<string, string> = {
    sku: sale?.sku ?? '',
    name: sale?.name ?? '',
    totalStock: String(sale?.totalStock ?? 100n),
    perCustomerLimit: String(sale?.perCustomerLimit ?? 1),
    startsAt: localInput(sale?.startsAt === undefined ? now : timestampMs(sale.startsAt)),
    endsAt: localInput(sale?.endsAt === undefined ? now + 3_600_000 : timestampMs(sale.endsAt)),
    admissionRate: String(sale?.admissionRate ?? 100),
    admissionBurst: String(sale?.admissionBurst ?? 100),
  };
  for (const [name, value] of Object.entries(values)) field(name).value = value;
  field('preQueueLottery').checked = sale?.preQueueLottery ?? false;
  // A sale's sku names it, and its stock changes by restocks only.
  field('sku').readOnly = sale !== undefined;
  field('totalStock').readOnly = sale !== undefined;
}

ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  const sale = create(SaleSchema, {
    sku: field('sku').value.trim(),
    name: field('name').value.trim(),
    totalStock: BigInt(field('totalStock').value),
    perCustomerLimit: Number(field('perCustomerLimit').value),
    startsAt: timestampFromMs(new Date(field('startsAt').value).getTime()),
    endsAt: timestampFromMs(new Date(field('endsAt').value).getTime()),
    admissionRate: Number(field('admissionRate').value),
    admissionBurst: Number(field('admissionBurst').value),
    preQueueLottery: field('preQueueLottery').checked,
  });
  void (async () => {
    try {
      const { created } = await admin.upsertSale({ sale });
      say(`${created ? 'Created' : 'Saved'} ${sale.sku}.`);
      await loadSales();
      select(sale.sku);
    } catch (error) {
      failed(error, `Saving ${sale.sku}`);
    }
  })();
});

ui.newSale.addEventListener('click', () => {
  selected?.watch.abort();
  selected = undefined;
  ui.actions.hidden = true;
  ui.live.hidden = true;
  showForm(undefined);
});

/** Shows `sku`: its form, its actions and its live figures. */
function select(sku: string): void {
  selected?.watch.abort();
  const watch = new AbortController();
  selected = { sku, watch };
  for (const row of ui.saleList.querySelectorAll('tr')) {
    row.classList.toggle('selected', row.dataset.sku === sku);
  }
  showForm(sales.find((s) => s.sku === sku));
  ui.actions.hidden = false;
  ui.reconcileReport.textContent = '';
  ui.live.hidden = false;
  ui.liveSku.textContent = sku;
  chart.data.labels = [];
  for (const dataset of chart.data.datasets) dataset.data = [];
  chart.update();
  void follow(sku, watch.signal);
}

/** Follows `sku`'s figures until `signal`, reconnecting after a dropped stream. */
async function follow(sku: string, signal: AbortSignal): Promise<void> {
  // Read afresh each time: the stream's end may come from the abort.
  const stopped = () => signal.aborted;
  while (!stopped()) {
    try {
      for await (const { stats } of admin.watchSaleStats({ sku }, { signal })) {
        if (stats !== undefined) show(stats);
      }
    } catch (error) {
      if (stopped()) return;
      const e = ConnectError.from(error);
      if (e.code === Code.Unauthenticated || e.code === Code.NotFound) {
        failed(error, `Watching ${sku}`);
        return;
      }
    }
    // Dropped (the gate restarted, the network blinked): again shortly.
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

const figure = (id: string, value: bigint | number | string) => {
  element(id).textContent = String(value);
};

function show(stats: SaleLiveStats): void {
  const c = stats.counters;
  ui.liveState.textContent = stateLabel[stats.state];
  ui.liveState.className = `state ${SaleState[stats.state]}`;
  figure('units-left', stats.unitsLeft);
  figure('accepted', c?.accepted ?? 0n);
  figure('confirmed', c?.confirmed ?? 0n);
  figure('pending', c?.pending ?? 0n);
  figure('rejected', c?.rejected ?? 0n);
  figure('dead-lettered', c?.deadLettered ?? 0n);
  figure('sold-out', c?.soldOutRefusals ?? 0n);
  figure('rate-limited', c?.rateLimited ?? 0n);
  figure('admission-rate', stats.admissionRate.toFixed(1));
  figure('refusal-rate', stats.refusalRate.toFixed(1));
  figure('queue-length', stats.queueLength);
  const waitMs = stats.estimatedWait === undefined ? 0 : durationMs(stats.estimatedWait);
  figure('queue-wait', `${(waitMs / 1000).toFixed(0)} s`);
  figure('outbox-depth', stats.outboxDepth);
  figure('consumer-lag', stats.consumerLag < 0n ? 'unknown' : stats.consumerLag);
  const at = stats.readAt === undefined ? new Date() : timestampDate(stats.readAt);
  ui.readAt.textContent = at.toLocaleTimeString();
  const labels = chart.data.labels ?? [];
  labels.push(at.toLocaleTimeString());
  const [accepted, refused] = chart.data.datasets;
  accepted?.data.push(stats.admissionRate);
  refused?.data.push(stats.refusalRate);
  if (labels.length > chartPoints) {
    labels.shift();
    accepted?.data.shift();
    refused?.data.shift();
  }
  chart.update();
  figure('peak-accepted', Math.max(0, ...(accepted?.data ?? [])).toFixed(1));
  figure('peak-refused', Math.max(0, ...(refused?.data ?? [])).toFixed(1));
}

/** Asks the operator to confirm `text` in the page's dialog. */
function confirmed(text: string): Promise<boolean> {
  ui.confirmText.textContent = text;
  ui.confirm.returnValue = '';
  ui.confirm.showModal();
  return new Promise((resolve) => {
    ui.confirm.addEventListener(
      'close',
      () => {
        resolve(ui.confirm.returnValue === 'ok');
      },
      { once: true },
    );
  });
}

/** Runs `action` on the selected sale after the operator confirms `text`. */
function guarded(text: (sku: string) => string, action: (sku: string) => Promise<string>) {
  return () => {
    const sku = selected?.sku;
    if (sku === undefined) return;
    void (async () => {
      if (!(await confirmed(text(sku)))) {
        say('Cancelled: nothing changed.');
        return;
      }
      try {
        say(await action(sku));
        // The form shows the sale as it is now: a save after a restock keeps the new total.
        if (await loadSales()) showForm(sales.find((s) => s.sku === sku));
      } catch (error) {
        failed(error, `${text(sku).split(' ')[0] ?? 'The action'} ${sku}`);
      }
    })();
  };
}

const pending = (outcome: { liveReloadPending: boolean }) =>
  outcome.liveReloadPending ? ' The live sale waits for a reload (reconcile with repair).' : '';

ui.pause.addEventListener(
  'click',
  guarded(
    (sku) => `Pause ${sku}? Orders are refused until it is resumed.`,
    async (sku) => `Paused ${sku}.${pending(await admin.pauseSale({ sku }))}`,
  ),
);
ui.resume.addEventListener(
  'click',
  guarded(
    (sku) => `Resume ${sku}? It accepts orders again.`,
    async (sku) => `Resumed ${sku}.${pending(await admin.resumeSale({ sku }))}`,
  ),
);
ui.restock.addEventListener(
  'click',
  guarded(
    (sku) => `Restock ${sku} with ${ui.restockUnits.value} units?`,
    async (sku) => {
      const units = Number(ui.restockUnits.value);
      // One idempotency key for this confirmed restock, reused by its retries: added once.
      const { response } = await restock(admin, { sku, units });
      return `Restocked ${sku} with ${String(units)} units.${pending(response)}`;
    },
  ),
);
ui.reconcile.addEventListener(
  'click',
  guarded(
    (sku) => `Reconcile ${sku}? The live stock is set to what the order database implies.`,
    async (sku) => {
      const r = await admin.reconcile({ sku, repair: true });
      ui.reconcileReport.textContent =
        `Live ${String(r.liveUnits)}, database ${String(r.databaseUnits)}, ` +
        `in flight ${String(r.inFlightUnits)}, drift ${String(r.drift)}.`;
      return r.drift === 0n
        ? `Reconciled ${sku}: no drift.`
        : `Reconciled ${sku}: drift ${String(r.drift)} ${r.repaired ? 'repaired' : 'not repaired: reconcile again'}.`;
    },
  ),
);

ui.signIn.addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(tokenKey, ui.token.value.trim());
  ui.token.value = '';
  void start();
});
ui.signOut.addEventListener('click', () => {
  signOut();
});

if (sessionStorage.getItem(tokenKey) !== null) void start();
