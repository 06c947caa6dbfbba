/** A sale's live stock and the state it implies. */
import type { Sale } from './sale.js';

/** Whether a sale sells now (the proto's SaleState without prefix). */
export type SaleStateName = 'SCHEDULED' | 'OPEN' | 'PAUSED' | 'SOLD_OUT' | 'ENDED';

/** The live view of a sale's stock. */
export interface StockView {
  readonly sale: Sale;
  readonly unitsLeft: number;
  readonly state: SaleStateName;
}

/** The state of `sale` with `unitsLeft` at `nowMs`; paused and ended take precedence. */
export function saleState(sale: Sale, unitsLeft: number, nowMs: number): SaleStateName {
  if (nowMs >= sale.endsAtMs) return 'ENDED';
  if (sale.paused) return 'PAUSED';
  if (nowMs < sale.startsAtMs) return 'SCHEDULED';
  return unitsLeft <= 0 ? 'SOLD_OUT' : 'OPEN';
}

/** True when the stock will not change again without an operator (a watcher can stop). */
export function isTerminal(state: SaleStateName): boolean {
  return state === 'SOLD_OUT' || state === 'ENDED';
}
