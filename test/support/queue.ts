/** A buyer who waits in the sale's queue as the refusals say: the client the waiting room expects. */
import type { MessageInitShape } from '@bufbuild/protobuf';
import { durationMs } from '@bufbuild/protobuf/wkt';
import { ConnectError, type Client } from '@connectrpc/connect';
import { setTimeout as sleep } from 'node:timers/promises';
import { WaitingRoomTicketSchema } from '../../gen/fluxgate/v1/errors_pb.js';
import type {
  OrderGateService,
  PlaceOrderRequestSchema,
  PlaceOrderResponse,
} from '../../gen/fluxgate/v1/order_gate_pb.js';
import { RetryInfoSchema } from '../../gen/google/rpc/error_details_pb.js';

/** The waiting-room ticket token a refusal carries, if any. */
export function ticketOf(error: unknown): string | undefined {
  return error instanceof ConnectError
    ? error.findDetails(WaitingRoomTicketSchema)[0]?.token
    : undefined;
}

/**
 * Places `request`; refused with a retry delay, keeps the ticket the refusal holds (if any),
 * waits that delay (at most `maxSleepMs`) and tries again with it, until accepted or `deadline`
 * (ms since the epoch) passes. Resolves with the acceptance, or undefined at the deadline;
 * refusals without a retry delay are thrown. `onRefusal` sees every refusal.
 */
export async function buyInTurn(
  client: Client<typeof OrderGateService>,
  request: MessageInitShape<typeof PlaceOrderRequestSchema>,
  deadline: number,
  options: { maxSleepMs?: number; onRefusal?: (error: ConnectError) => void } = {},
): Promise<PlaceOrderResponse | undefined> {
  let queueTicket = request.queueTicket ?? '';
  for (;;) {
    try {
      return await client.placeOrder({ ...request, queueTicket });
    } catch (error) {
      if (!(error instanceof ConnectError)) throw error;
      options.onRefusal?.(error);
      const delay = error.findDetails(RetryInfoSchema)[0]?.retryDelay;
      if (delay === undefined) throw error;
      queueTicket = ticketOf(error) ?? queueTicket;
      const waitMs = Math.min(durationMs(delay), options.maxSleepMs ?? 100);
      if (Date.now() + waitMs >= deadline) return undefined;
      await sleep(waitMs);
    }
  }
}
