"""Place one order against a running Flux-Gate over gRPC and read it back.

    .tools/python/bin/python clients/python/place_order.py --addr 127.0.0.1:8080 --sku DEMO-1 --queue

The order is retried the way every client should: under one idempotency key, after the delay
the gate names (RetryInfo), for as long as the overall deadline allows, and never after a final
refusal (sold out, limits, invalid...). Exits non-zero on any error, printing the status code
and the machine-readable reason.

With --queue, a refusal for the sale's rate is not retried blind: the program waits in the
sale's queue with the ticket the refusal holds (QueueService.WatchTicket, printing where the
ticket stands), and once the ticket is called sends the order again, same key, with the ticket.
It exits non-zero if the sale sells out or ends, or the turn passes, before that.
"""

import argparse
import random
import sys
import time
import uuid
from typing import NamedTuple

import grpc
from google.rpc import error_details_pb2, status_pb2

from fluxgate.v1 import errors_pb2, order_gate_pb2, order_gate_pb2_grpc, order_pb2, queue_pb2, queue_pb2_grpc

# The retry policy of the typed Node client (src/client/retry.ts), in seconds: each attempt's
# deadline, and the backoff when the gate names no delay (exponential, full jitter, capped).
ATTEMPT_TIMEOUT = 5.0
BASE_DELAY = 0.1
MAX_DELAY = 10.0

# Codes after which the same request may succeed. The last three leave the outcome unknown;
# the idempotency key makes the retry learn it. Every other code is final.
RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
}


class Details(NamedTuple):
    """What the rich status trailer of a refusal carries."""

    reason: str  # ErrorInfo reason, '' when none
    delay: float | None  # RetryInfo delay in seconds
    ticket: errors_pb2.WaitingRoomTicket | None  # the place in the queue of a refusal for the rate


def details_of(error: grpc.RpcError) -> Details:
    reason, delay, ticket = "", None, None
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.ErrorInfo()
                retry = error_details_pb2.RetryInfo()
                room = errors_pb2.WaitingRoomTicket()
                if detail.Unpack(info):
                    reason = info.reason
                elif detail.Unpack(retry):
                    delay = retry.retry_delay.ToTimedelta().total_seconds()
                elif detail.Unpack(room) and room.token:
                    ticket = room
    return Details(reason, delay, ticket)


def describe(error: grpc.RpcError) -> str:
    return f"{error.code().name}: {error.details()} (reason {details_of(error).reason})"


class LeftQueue(Exception):
    """The ticket will not be called: the sale sold out or ended, its turn passed, or the
    deadline came first."""


# Why a ticket will not be called, by the state its watch ended with.
LEFT_QUEUE = {
    queue_pb2.TICKET_STATE_SOLD_OUT: "the sale sold out while waiting in the queue",
    queue_pb2.TICKET_STATE_SALE_ENDED: "the sale ended while waiting in the queue",
    queue_pb2.TICKET_STATE_EXPIRED: "its turn passed before it was used",
}


def watch(queue, token: str, deadline: float):
    """Follow one WatchTicket call, printing where the ticket stands while it waits; return its
    first state that is not WAITING, or None when the call ends before one."""
    request = queue_pb2.WatchTicketRequest(ticket=token)
    call = queue.WatchTicket(request, timeout=max(0.0, deadline - time.monotonic()))
    try:
        for update in call:
            s = update.status
            if s.state != queue_pb2.TICKET_STATE_WAITING:
                return s
            wait = s.estimated_wait.ToTimedelta().total_seconds()
            print(
                f"waiting ticket={s.number} position={s.position} people_ahead={s.people_ahead}"
                f" now_serving={s.now_serving} estimated_wait={wait:.1f}s"
            )
        return None
    finally:
        call.cancel()


def wait_for_call(queue, ticket: errors_pb2.WaitingRoomTicket, deadline: float) -> None:
    """Watch `ticket` until it is called; raise LeftQueue (or the call's error) if it will not be."""
    while True:
        try:
            status = watch(queue, ticket.token, deadline)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                raise
            status = None
        if status is None:
            if time.monotonic() >= deadline:
                raise LeftQueue(f"ticket {ticket.number}: still waiting in the queue at the deadline")
            continue  # The gate ended the call at its longest deadline: watch again.
        # USED: an order holds the ticket already. The gate answers a retry of that order (same
        # key) with it and refuses any other order (TICKET_USED): sending it lets the gate say.
        if status.state in (queue_pb2.TICKET_STATE_CALLED, queue_pb2.TICKET_STATE_USED):
            until = status.called_until.ToJsonString()
            print(f"called ticket={ticket.number} until={until}: ordering with the ticket")
            return
        why = LEFT_QUEUE.get(status.state, f"unexpected state {queue_pb2.TicketState.Name(status.state)}")
        raise LeftQueue(f"ticket {ticket.number}: {why}")


def place_order(client, queue, request, deadline: float):
    """Send `request` (so one idempotency key) until the gate answers, a refusal is final, or
    waiting once more would pass `deadline` (time.monotonic()); then raise the last error.
    Each attempt gets ATTEMPT_TIMEOUT, or less when less is left. With a waiting room (`queue`),
    a refusal that holds a ticket is waited out in the queue instead, and the request then
    carries the ticket. Returns (answer, attempts)."""
    attempt = 0
    while True:
        attempt += 1
        try:
            left = deadline - time.monotonic()
            return client.PlaceOrder(request, timeout=max(0.0, min(ATTEMPT_TIMEOUT, left))), attempt
        except grpc.RpcError as error:
            if error.code() not in RETRYABLE:
                raise
            _, delay, ticket = details_of(error)
            # A ticket already sent and refused again (the gate does not see it called yet) is
            # not watched again, which would answer CALLED at once: the gate's delay paces the retry.
            if queue is not None and ticket is not None and ticket.token != request.queue_ticket:
                print(f"queued ticket={ticket.number} after attempt {attempt}: {describe(error)}; waiting in the queue")
                wait_for_call(queue, ticket, deadline)
                request.queue_ticket = ticket.token
                continue
            if delay is None:
                delay = random.uniform(0, min(MAX_DELAY, BASE_DELAY * 2 ** min(attempt - 1, 20)))
            wait = min(MAX_DELAY, delay)
            if time.monotonic() + wait >= deadline:
                raise
            print(f"attempt {attempt}: {describe(error)}; retrying in {wait:.3f} s", file=sys.stderr)
            time.sleep(wait)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:8080", help="gate host:port (gRPC, no TLS)")
    parser.add_argument("--sku", default="DEMO-1")
    parser.add_argument("--qty", type=int, default=1)
    parser.add_argument("--customer", default="python-client")
    parser.add_argument(
        "--deadline", type=float, default=30.0, help="seconds the order may take, retries and queue included"
    )
    parser.add_argument(
        "--queue", action="store_true", help="refused for the sale's rate: wait in its queue, then buy with its ticket"
    )
    args = parser.parse_args()
    # Queue progress shows as it happens, also through a pipe.
    sys.stdout.reconfigure(line_buffering=True)

    with grpc.insecure_channel(args.addr) as channel:
        client = order_gate_pb2_grpc.OrderGateServiceStub(channel)
        queue = queue_pb2_grpc.QueueServiceStub(channel) if args.queue else None
        # One key per logical order, sent on every retry of it.
        key = str(uuid.uuid4())
        try:
            placed, attempts = place_order(
                client,
                queue,
                order_gate_pb2.PlaceOrderRequest(
                    sku=args.sku, quantity=args.qty, customer_id=args.customer, idempotency_key=key
                ),
                time.monotonic() + args.deadline,
            )
            print(
                f"placed order_id={placed.order_id} status={order_pb2.OrderStatus.Name(placed.status)}"
                f" idempotency_key={key} attempts={attempts}"
            )
            got = client.GetOrder(order_gate_pb2.GetOrderRequest(order_id=placed.order_id), timeout=ATTEMPT_TIMEOUT)
        except grpc.RpcError as error:
            print(f"error: {describe(error)}", file=sys.stderr)
            return 1
        except LeftQueue as left:
            print(f"error: {left}", file=sys.stderr)
            return 1
    order = got.order
    print(f"read   order_id={order.order_id} sku={order.sku} quantity={order.quantity} status={order_pb2.OrderStatus.Name(order.status)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
