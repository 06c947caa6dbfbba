// Command place-order places one order against a running Flux-Gate over gRPC (HTTP/2 without
// TLS), reads it back with GetOrder and prints both. It exits non-zero on any error, printing
// the refusal's code and machine-readable reason.
//
//	go run ./cmd/place-order -addr http://127.0.0.1:8080 -sku DEMO-1 -qty 1 -customer alice
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"connectrpc.com/connect"
	fluxgatev1 "github.com/flux-gate/flux-gate/clients/go/gen/fluxgate/v1"
	"github.com/flux-gate/flux-gate/clients/go/gen/fluxgate/v1/fluxgatev1connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
)

func main() {
	addr := flag.String("addr", "http://127.0.0.1:8080", "gate base URL")
	sku := flag.String("sku", "DEMO-1", "sale sku")
	qty := flag.Int("qty", 1, "units to buy")
	customer := flag.String("customer", "go-client", "customer id")
	flag.Parse()
	if err := run(*addr, *sku, int32(*qty), *customer); err != nil {
		fmt.Fprintln(os.Stderr, "error:", describe(err))
		os.Exit(1)
	}
}

func run(addr, sku string, qty int32, customer string) error {
	// gRPC needs HTTP/2; without TLS that is "h2c" (prior knowledge), which net/http speaks natively.
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	httpClient := &http.Client{Transport: &http.Transport{Protocols: protocols}}
	client := fluxgatev1connect.NewOrderGateServiceClient(httpClient, addr, connect.WithGRPC())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	placed, err := client.PlaceOrder(ctx, connect.NewRequest(&fluxgatev1.PlaceOrderRequest{
		Sku:            sku,
		Quantity:       qty,
		CustomerId:     customer,
		IdempotencyKey: newKey(),
	}))
	if err != nil {
		return err
	}
	fmt.Printf("placed order_id=%s status=%s\n", placed.Msg.OrderId, placed.Msg.Status)
	got, err := client.GetOrder(ctx, connect.NewRequest(&fluxgatev1.GetOrderRequest{OrderId: placed.Msg.OrderId}))
	if err != nil {
		return err
	}
	o := got.Msg.Order
	fmt.Printf("read   order_id=%s sku=%s quantity=%d status=%s\n", o.OrderId, o.Sku, o.Quantity, o.Status)
	return nil
}

// newKey returns a random idempotency key; a real client keeps it for every retry of one order.
func newKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

func describe(err error) string {
	var connectErr *connect.Error
	if !errors.As(err, &connectErr) {
		return err.Error()
	}
	text := fmt.Sprintf("%s: %s", connectErr.Code(), connectErr.Message())
	for _, detail := range connectErr.Details() {
		if msg, derr := detail.Value(); derr == nil {
			if info, ok := msg.(*errdetails.ErrorInfo); ok {
				text += fmt.Sprintf(" (reason %s)", info.Reason)
			}
		}
	}
	return text
}
