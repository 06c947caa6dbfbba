"""Place one order against a running Flux-Gate over gRPC and read it back.

    .tools/python/bin/python clients/python/place_order.py --addr 127.0.0.1:8080 --sku DEMO-1

The order is retried the way every client should: under one idempotency key, after the delay
the gate names (RetryInfo), for as long as the overall deadline allows, and never after a final
refusal (sold out, limits, invalid...). Exits non-zero on any error, printing the status code
and the machine-readable reason.
"""

import argparse
import random
import sys
import time
import uuid

import grpc
from google.rpc import error_details_pb2, status_pb2

from fluxgate.v1 import order_gate_pb2, order_gate_pb2_grpc, order_pb2

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


def details_of(error: grpc.RpcError) -> tuple[str, float | None]:
    """Return the ErrorInfo reason ('' when none) and the RetryInfo delay in seconds (None when
    none) carried in the rich status trailer."""
    reason, delay = "", None
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.ErrorInfo()
                retry = error_details_pb2.RetryInfo()
                if detail.Unpack(info):
                    reason = info.reason
                elif detail.Unpack(retry):
                    delay = retry.retry_delay.ToTimedelta().total_seconds()
    return reason, delay


def describe(error: grpc.RpcError) -> str:
    return f"{error.code().name}: {error.details()} (reason {details_of(error)[0]})"


def place_order(client, request, deadline: float):
    """Send `request` (so one idempotency key) until the gate answers, a refusal is final, or
    waiting once more would pass `deadline` (time.monotonic()); then raise the last error.
    Each attempt gets ATTEMPT_TIMEOUT, or less when less is left. Returns (answer, attempts)."""
    attempt = 0
    while True:
        attempt += 1
        try:
            left = deadline - time.monotonic()
            return client.PlaceOrder(request, timeout=max(0.0, min(ATTEMPT_TIMEOUT, left))), attempt
        except grpc.RpcError as error:
            if error.code() not in RETRYABLE:
                raise
            delay = details_of(error)[1]
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
    parser.add_argument("--deadline", type=float, default=30.0, help="seconds the order may take, retries included")
    args = parser.parse_args()

    with grpc.insecure_channel(args.addr) as channel:
        client = order_gate_pb2_grpc.OrderGateServiceStub(channel)
        # One key per logical order, sent on every retry of it.
        key = str(uuid.uuid4())
        try:
            placed, attempts = place_order(
                client,
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
    order = got.order
    print(f"read   order_id={order.order_id} sku={order.sku} quantity={order.quantity} status={order_pb2.OrderStatus.Name(order.status)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
