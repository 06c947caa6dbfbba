"""Place one order against a running Flux-Gate over gRPC and read it back.

    .tools/python/bin/python clients/python/place_order.py --addr 127.0.0.1:8080 --sku DEMO-1

Exits non-zero on any error, printing the status code and the machine-readable reason.
"""

import argparse
import sys
import uuid

import grpc
from google.rpc import error_details_pb2, status_pb2

from fluxgate.v1 import order_gate_pb2, order_gate_pb2_grpc, order_pb2


def reason_of(error: grpc.RpcError) -> str:
    """Return the ErrorInfo reason carried in the rich status trailer, or ''."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info.reason
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:8080", help="gate host:port (gRPC, no TLS)")
    parser.add_argument("--sku", default="DEMO-1")
    parser.add_argument("--qty", type=int, default=1)
    parser.add_argument("--customer", default="python-client")
    args = parser.parse_args()

    with grpc.insecure_channel(args.addr) as channel:
        client = order_gate_pb2_grpc.OrderGateServiceStub(channel)
        try:
            placed = client.PlaceOrder(
                order_gate_pb2.PlaceOrderRequest(
                    sku=args.sku,
                    quantity=args.qty,
                    customer_id=args.customer,
                    # One key per logical order, reused on every retry of it.
                    idempotency_key=str(uuid.uuid4()),
                ),
                timeout=10,
            )
            print(f"placed order_id={placed.order_id} status={order_pb2.OrderStatus.Name(placed.status)}")
            got = client.GetOrder(order_gate_pb2.GetOrderRequest(order_id=placed.order_id), timeout=10)
        except grpc.RpcError as error:
            print(f"error: {error.code().name}: {error.details()} (reason {reason_of(error)})", file=sys.stderr)
            return 1
    order = got.order
    print(f"read   order_id={order.order_id} sku={order.sku} quantity={order.quantity} status={order_pb2.OrderStatus.Name(order.status)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
