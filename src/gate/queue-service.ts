/** QueueService: where waiting-room tickets stand. Maps proto <-> domain; no logic of its own. */
import { create } from '@bufbuild/protobuf';
import { durationFromMs, timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import {
  CheckTicketResponseSchema,
  GetDrawResponseSchema,
  TicketState,
  TicketStatusSchema,
  WatchTicketResponseSchema,
  type QueueService,
  type TicketStatus,
} from '../../gen/fluxgate/v1/queue_pb.js';
import { checkSku } from '../domain/order.js';
import type { TicketStanding } from '../domain/queue.js';
import { Refusal } from '../domain/refusal.js';
import { seedCommitment } from '../queue/draw.js';
import type { QueueReader } from '../queue/ports.js';
import type { QueueWatch } from '../queue/queue-watch.js';
import type { TicketDesk } from '../queue/ticket-desk.js';

/** What the service needs. */
export interface QueueServiceDeps {
  readonly tickets: Pick<TicketDesk, 'read'>;
  readonly queueWatch: Pick<QueueWatch, 'check' | 'watch'>;
  /** The sale's queue, for its draw. */
  readonly queue: QueueReader;
}

/** A standing on the wire. */
function standingToProto(standing: TicketStanding): TicketStatus {
  return create(TicketStatusSchema, {
    sku: standing.sku,
    state: TicketState[standing.state],
    number: BigInt(standing.number),
    position: BigInt(standing.position),
    nowServing: BigInt(standing.nowServing),
    peopleAhead: BigInt(standing.peopleAhead),
    estimatedWait: durationFromMs(standing.estimatedWaitMs),
    admissionRate: standing.admissionRate,
    ...(standing.calledUntilMs === undefined
      ? {}
      : { calledUntil: timestampFromMs(standing.calledUntilMs) }),
  });
}

/** Creates the QueueService implementation. */
export function createQueueService(deps: QueueServiceDeps): ServiceImpl<typeof QueueService> {
  return {
    async checkTicket(req) {
      const standing = await deps.queueWatch.check(deps.tickets.read(req.ticket));
      return create(CheckTicketResponseSchema, { status: standingToProto(standing) });
    },

    async *watchTicket(req, context) {
      const ticket = deps.tickets.read(req.ticket);
      for await (const standing of deps.queueWatch.watch(ticket, context.signal)) {
        yield create(WatchTicketResponseSchema, { status: standingToProto(standing) });
      }
    },

    async getDraw(req) {
      checkSku(req.sku);
      const read = await deps.queue.read(req.sku);
      if (read === undefined) throw new Refusal('SALE_NOT_FOUND', `no sale with sku ${req.sku}`);
      const { draw, nowMs, startsAtMs } = read.queue;
      if (draw === undefined) return create(GetDrawResponseSchema, { lottery: false });
      // The seed is told from the start (by the live store's clock), never before.
      const started = nowMs >= startsAtMs;
      return create(GetDrawResponseSchema, {
        lottery: true,
        seedSha256: seedCommitment(draw.seed),
        seed: started ? draw.seed : '',
        entrants: BigInt(started ? draw.entrants : 0),
      });
    },
  };
}
