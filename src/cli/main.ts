#!/usr/bin/env node
/**
 * `flux-gate`: the command line over the typed client. Orders, order and stock watching, and
 * the admin calls, with one readable line per answer (`--json` for the raw message).
 * The gate's address and admin token default to the same settings the gate reads.
 */
import { create, toJsonString, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import {
  GetSaleStatsResponseSchema,
  RestockResponseSchema,
} from '../../gen/fluxgate/v1/admin_pb.js';
import { timestampFromMs, timestampMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import { parseArgs } from 'node:util';
import {
  SaleSchema,
  SaleState,
  StockSchema,
  type Sale,
  type Stock,
} from '../../gen/fluxgate/v1/sale_pb.js';
import {
  OrderSchema,
  OrderStatus,
  RejectReason,
  type Order,
} from '../../gen/fluxgate/v1/order_pb.js';
import { createFluxGateClient, type FluxGateClient } from '../client/node.js';
import { describeFailure } from '../client/retry.js';
import { loadConfigOrReport } from '../run-main.js';
import { rehearsalCommand } from '../rehearsal/command.js';
import { parseProfile } from '../rehearsal/profiles.js';
import { maxBuyers, type RehearsalOptions } from '../rehearsal/rehearse.js';

const usage = `usage: flux-gate <command> [options]

orders
  order  --sku S --qty N --customer C [--key K]   place an order (retries under one key)
  get    ORDER_ID                                 show an order
  watch  --order ORDER_ID | --sku S               follow an order's status or a sale's stock
admin (token: --token or FLUXGATE_ADMIN_TOKEN)
  sale upsert --sku S --name N --stock N [--limit N] [--rate N] [--burst N]
              [--starts ISO] [--ends ISO]         create or change a sale
  sale list | stats --sku S | pause --sku S | resume --sku S
  sale restock --sku S --units N [--key K]        add units once (retries under one key)
  sale reconcile --sku S [--repair]               compare live and recorded stock
rehearsal (token as for admin)
  rehearse [--buyers N] [--units N] [--profile P] [--rate N] [--burst N] [--sku S]
           [--timeout SECS] [--settle SECS] [--connections N] [--in-flight N] [--out DIR]
           [--service-token T]
      play a flash crowd against a sale, live progress, then a report (JSON + HTML) with
      an oversell check. P: all-at-once | ramp:<secs> | poisson:<buyers/s>. Defaults:
      10000 buyers, a fresh sale of 1000 units at rate 500/s burst 100, all-at-once,
      timeout 120 s, settle 60 s, 4 connections, 256 in flight, out ./rehearsal.
      --sku plays against that existing sale instead; --service-token is sent on the
      buyers' orders where the gate authenticates buyers. Exit: 0 fine, 1 oversold or the
      counts disagree, 3 time ran out first.

common: --url URL (default http://<FLUXGATE_GATE_HOST>:<FLUXGATE_GATE_PORT>), --json`;

const options = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean', default: false },
  sku: { type: 'string' },
  qty: { type: 'string' },
  customer: { type: 'string' },
  key: { type: 'string' },
  order: { type: 'string' },
  name: { type: 'string' },
  stock: { type: 'string' },
  limit: { type: 'string' },
  rate: { type: 'string' },
  burst: { type: 'string' },
  starts: { type: 'string' },
  ends: { type: 'string' },
  units: { type: 'string' },
  repair: { type: 'boolean', default: false },
  buyers: { type: 'string' },
  profile: { type: 'string' },
  timeout: { type: 'string' },
  settle: { type: 'string' },
  connections: { type: 'string' },
  'in-flight': { type: 'string' },
  out: { type: 'string' },
  'service-token': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type Flags = ReturnType<
  typeof parseArgs<{ options: typeof options; allowPositionals: true }>
>['values'];

/** A mistake in the command line: printed with the usage, exit 2. */
class UsageError extends Error {}

function required(
  flags: Flags,
  name: 'sku' | 'qty' | 'customer' | 'order' | 'name' | 'stock' | 'units',
): string {
  const value = flags[name];
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

function integer(text: string, name: string): number {
  if (!/^-?\d+$/.test(text))
    throw new UsageError(`--${name} must be an integer, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** An integer flag within [min, max], or its default when absent. */
function bounded(
  flags: Flags,
  name: keyof Flags,
  fallback: number,
  min: number,
  max: number,
): number {
  const text = flags[name];
  if (text === undefined) return fallback;
  const value = integer(String(text), name);
  if (value < min || value > max)
    throw new UsageError(
      `--${name} must be from ${String(min)} to ${String(max)}, got ${String(value)}`,
    );
  return value;
}

/** The rehearsal the flags describe (defaults in the usage text). */
function rehearsalOptions(
  flags: Flags,
  url: string,
  adminToken: string | undefined,
): RehearsalOptions {
  let profile;
  try {
    profile = parseProfile(flags.profile ?? 'all-at-once');
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return {
    url,
    adminToken,
    serviceToken: flags['service-token'],
    sku: flags.sku,
    units: bounded(flags, 'units', 1000, 1, 1_000_000_000),
    rate: bounded(flags, 'rate', 500, 1, 1_000_000),
    burst: bounded(flags, 'burst', 100, 1, 1_000_000),
    buyers: bounded(flags, 'buyers', 10_000, 1, maxBuyers),
    profile,
    timeoutMs: bounded(flags, 'timeout', 120, 1, 3600) * 1000,
    settleMs: bounded(flags, 'settle', 60, 0, 3600) * 1000,
    connections: bounded(flags, 'connections', 4, 1, 64),
    inFlight: bounded(flags, 'in-flight', 256, 1, 10_000),
  };
}

function time(text: string | undefined, name: string, fallbackMs: number): Timestamp {
  if (text === undefined) return timestampFromMs(fallbackMs);
  const ms = Date.parse(text);
  if (Number.isNaN(ms))
    throw new UsageError(`--${name} must be an ISO date, got ${JSON.stringify(text)}`);
  return timestampFromMs(ms);
}

const iso = (t: Timestamp | undefined) =>
  t === undefined ? '-' : new Date(timestampMs(t)).toISOString();

function orderLine(order: Order): string {
  const reason =
    order.rejectReason === RejectReason.UNSPECIFIED ? '' : ` (${RejectReason[order.rejectReason]})`;
  return `order ${order.orderId}  ${OrderStatus[order.status]}${reason}  sku=${order.sku} qty=${String(order.quantity)} customer=${order.customerId}`;
}

function stockLine(stock: Stock): string {
  return `${stock.sku}  ${SaleState[stock.state]}  ${String(stock.unitsLeft)}/${String(stock.totalStock)} left  ${iso(stock.startsAt)} → ${iso(stock.endsAt)}`;
}

/** What a recorded change whose live part waits for a reload tells the operator. */
const pendingNote =
  'recorded; the sale’s live data is lost and it stays closed until reloaded: run `sale reconcile --repair` once the worker has caught up';

function saleLine(sale: Sale): string {
  return `${sale.sku}  "${sale.name}"  stock=${String(sale.totalStock)} limit=${String(sale.perCustomerLimit)}/customer rate=${String(sale.admissionRate)}/s burst=${String(sale.admissionBurst)}${sale.paused ? '  PAUSED' : ''}  ${iso(sale.startsAt)} → ${iso(sale.endsAt)}`;
}

async function run(command: string[], flags: Flags, client: FluxGateClient): Promise<void> {
  const print = <D extends DescMessage>(schema: D, message: MessageShape<D>, line: string) => {
    console.log(flags.json ? toJsonString(schema, message, { prettySpaces: 2 }) : line);
  };
  const [verb, sub, arg] = command;
  switch (verb) {
    case 'order': {
      const result = await client.placeOrder(
        {
          sku: required(flags, 'sku'),
          quantity: integer(required(flags, 'qty'), 'qty'),
          customerId: required(flags, 'customer'),
          idempotencyKey: flags.key,
        },
        {
          onRetry: (attempt, failure, waitMs) => {
            console.error(
              `attempt ${String(attempt)}: ${failure.reason}; retrying in ${String(Math.round(waitMs))} ms`,
            );
          },
        },
      );
      const { response } = result;
      if (flags.json) {
        console.log(
          JSON.stringify({
            orderId: response.orderId,
            status: OrderStatus[response.status],
            idempotencyKey: result.idempotencyKey,
            attempts: result.attempts,
          }),
        );
      } else
        console.log(
          `order ${response.orderId}  ${OrderStatus[response.status]}  (idempotency key ${result.idempotencyKey}, ${String(result.attempts)} attempt${result.attempts > 1 ? 's' : ''})`,
        );
      return;
    }
    case 'get': {
      if (sub === undefined) throw new UsageError('get needs an order id');
      const { order } = await client.orders.getOrder({ orderId: sub });
      if (order) print(OrderSchema, order, orderLine(order));
      return;
    }
    case 'watch': {
      if (flags.order !== undefined) {
        for await (const { order } of client.orders.watchOrder({ orderId: flags.order })) {
          if (order) print(OrderSchema, order, orderLine(order));
        }
      } else {
        for await (const { stock } of client.inventory.watchStock({
          sku: required(flags, 'sku'),
        })) {
          if (stock) print(StockSchema, stock, stockLine(stock));
        }
      }
      return;
    }
    case 'sale':
      break;
    default:
      throw new UsageError(verb === undefined ? 'no command' : `unknown command ${verb}`);
  }
  const admin = client.admin;
  switch (sub) {
    case 'upsert': {
      const now = Date.now();
      const { sale, created, liveReloadPending } = await admin.upsertSale({
        sale: {
          sku: required(flags, 'sku'),
          name: required(flags, 'name'),
          totalStock: BigInt(integer(required(flags, 'stock'), 'stock')),
          perCustomerLimit: integer(flags.limit ?? '1', 'limit'),
          admissionRate: integer(flags.rate ?? '100', 'rate'),
          admissionBurst: integer(flags.burst ?? '100', 'burst'),
          startsAt: time(flags.starts, 'starts', now),
          endsAt: time(flags.ends, 'ends', now + 3_600_000),
        },
      });
      if (sale)
        print(
          SaleSchema,
          sale,
          `${created ? 'created' : 'updated'}  ${saleLine(sale)}${liveReloadPending ? `  (${pendingNote})` : ''}`,
        );
      return;
    }
    case 'list': {
      const { sales } = await admin.listSales({});
      for (const sale of sales) print(SaleSchema, sale, saleLine(sale));
      return;
    }
    case 'stats': {
      const { stats } = await admin.getSaleStats({ sku: required(flags, 'sku') });
      if (stats) {
        const counts = `accepted=${String(stats.accepted)} confirmed=${String(stats.confirmed)} rejected=${String(stats.rejected)} pending=${String(stats.pending)} sold-out-refusals=${String(stats.soldOutRefusals)} rate-limited=${String(stats.rateLimited)} replays=${String(stats.replays)} dead-lettered=${String(stats.deadLettered)}`;
        print(
          GetSaleStatsResponseSchema,
          create(GetSaleStatsResponseSchema, { stats }),
          `${stats.sku}  ${counts}`,
        );
      }
      return;
    }
    case 'pause':
    case 'resume': {
      const request = { sku: required(flags, 'sku') };
      const { sale, liveReloadPending } =
        sub === 'pause' ? await admin.pauseSale(request) : await admin.resumeSale(request);
      if (sale)
        print(
          SaleSchema,
          sale,
          `${saleLine(sale)}${liveReloadPending ? `  (${pendingNote})` : ''}`,
        );
      return;
    }
    case 'restock': {
      // One key for this invocation, reused by its own retries: the units are added once.
      const result = await client.restock(
        {
          sku: required(flags, 'sku'),
          units: integer(required(flags, 'units'), 'units'),
          idempotencyKey: flags.key,
        },
        {
          onRetry: (attempt, failure, waitMs) => {
            console.error(
              `attempt ${String(attempt)}: ${failure.reason}; retrying in ${String(Math.round(waitMs))} ms`,
            );
          },
        },
      );
      const { response } = result;
      const note = [
        response.replayed ? `already done under key ${result.idempotencyKey}` : '',
        response.liveReloadPending ? pendingNote : '',
      ]
        .filter((n) => n !== '')
        .join('; ');
      if (flags.json) print(RestockResponseSchema, response, '');
      else if (response.stock)
        console.log(`${stockLine(response.stock)}${note ? `  (${note})` : ''}`);
      else console.log(`${response.sale?.sku ?? ''}  ${note}`);
      return;
    }
    case 'reconcile': {
      const r = await admin.reconcile({ sku: required(flags, 'sku'), repair: flags.repair });
      console.log(
        `${r.sku}  live=${String(r.liveUnits)} database=${String(r.databaseUnits)} in-flight=${String(r.inFlightUnits)} drift=${String(r.drift)}${r.repaired ? '  repaired' : ''}`,
      );
      return;
    }
    default:
      throw new UsageError(
        sub === undefined
          ? 'sale needs a subcommand'
          : `unknown sale command ${sub}${arg === undefined ? '' : ` ${arg}`}`,
      );
  }
}

/** Runs the CLI with `argv` (without node and the script); resolves with the exit code. */
async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  const { values: flags, positionals } = parsed;
  if (flags.help || positionals.length === 0) {
    console.log(usage);
    return flags.help ? 0 : 2;
  }
  const config = loadConfigOrReport();
  if (config === undefined) return 2;
  const baseUrl = flags.url ?? `http://${config.gateHost}:${String(config.gatePort)}`;
  const adminToken = flags.token ?? (config.adminToken === '' ? undefined : config.adminToken);
  const client = createFluxGateClient({ baseUrl, adminToken });
  try {
    if (positionals[0] === 'rehearse')
      return await rehearsalCommand(
        rehearsalOptions(flags, baseUrl, adminToken),
        flags.out ?? 'rehearsal',
      );
    await run(positionals, flags, client);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`${error.message}\n\n${usage}`);
      return 2;
    }
    const failure = describeFailure(error);
    const wait =
      failure.retryAfterMs === undefined
        ? ''
        : `; retry in ${String(Math.ceil(failure.retryAfterMs / 1000))} s`;
    console.error(`refused: ${failure.reason}: ${failure.message}${wait}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
