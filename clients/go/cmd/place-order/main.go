// Command place-order places one order against a running Flux-Gate over gRPC (HTTP/2 without
// TLS), reads it back with GetOrder and prints both. It retries the order the way every client
// should: under one idempotency key, after the delay the gate names (RetryInfo), for as long as
// the overall deadline allows, and never after a final refusal (sold out, limits, invalid...).
// It exits non-zero on any error, printing the refusal's code and machine-readable reason.
//
//	go run ./cmd/place-order -addr http://127.0.0.1:8080 -sku DEMO-1 -qty 1 -customer alice
package main

import (
	"context"
	crand "crypto/rand"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"time"

	"connectrpc.com/connect"
	fluxgatev1 "github.com/flux-gate/flux-gate/clients/go/gen/fluxgate/v1"
	"github.com/flux-gate/flux-gate/clients/go/gen/fluxgate/v1/fluxgatev1connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
)

// The retry policy of the typed Node client (src/client/retry.ts): each attempt's deadline, and
// the backoff when the gate names no delay (exponential, full jitter, capped).
const (
	attemptTimeout = 5 * time.Second
	baseDelay      = 100 * time.Millisecond
	maxDelay       = 10 * time.Second
)

func main() {
	addr := flag.String("addr", "http://127.0.0.1:8080", "gate base URL")
	sku := flag.String("sku", "DEMO-1", "sale sku")
	qty := flag.Int("qty", 1, "units to buy")
	customer := flag.String("customer", "go-client", "customer id")
	deadline := flag.Duration("deadline", 30*time.Second, "time the order may take, retries included")
	flag.Parse()
	if err := run(*addr, *sku, int32(*qty), *customer, *deadline); err != nil {
		fmt.Fprintln(os.Stderr, "error:", describe(err))
		os.Exit(1)
	}
}

func run(addr, sku string, qty int32, customer string, deadline time.Duration) error {
	// gRPC needs HTTP/2; without TLS that is "h2c" (prior knowledge), which net/http speaks natively.
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	httpClient := &http.Client{Transport: &http.Transport{Protocols: protocols}}
	client := fluxgatev1connect.NewOrderGateServiceClient(httpClient, addr, connect.WithGRPC())

	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	key := newKey()
	placed, attempts, err := placeOrder(ctx, client, &fluxgatev1.PlaceOrderRequest{
		Sku:            sku,
		Quantity:       qty,
		CustomerId:     customer,
		IdempotencyKey: key,
	})
	if err != nil {
		return err
	}
	fmt.Printf("placed order_id=%s status=%s idempotency_key=%s attempts=%d\n",
		placed.OrderId, placed.Status, key, attempts)
	readCtx, cancelRead := context.WithTimeout(context.Background(), attemptTimeout)
	defer cancelRead()
	got, err := client.GetOrder(readCtx, connect.NewRequest(&fluxgatev1.GetOrderRequest{OrderId: placed.OrderId}))
	if err != nil {
		return err
	}
	o := got.Msg.Order
	fmt.Printf("read   order_id=%s sku=%s quantity=%d status=%s\n", o.OrderId, o.Sku, o.Quantity, o.Status)
	return nil
}

// placeOrder sends the same request (so the same idempotency key) until the gate answers, a
// refusal is final, or waiting once more would pass ctx's deadline; it then returns the last
// error. Each attempt gets attemptTimeout, or less when ctx has less left.
func placeOrder(
	ctx context.Context,
	client fluxgatev1connect.OrderGateServiceClient,
	req *fluxgatev1.PlaceOrderRequest,
) (*fluxgatev1.PlaceOrderResponse, int, error) {
	deadline, _ := ctx.Deadline()
	for attempt := 1; ; attempt++ {
		attemptCtx, cancel := context.WithTimeout(ctx, attemptTimeout)
		res, err := client.PlaceOrder(attemptCtx, connect.NewRequest(req))
		cancel()
		if err == nil {
			return res.Msg, attempt, nil
		}
		wait, retryable := retryDelay(err, attempt)
		if !retryable || ctx.Err() != nil || !time.Now().Add(wait).Before(deadline) {
			return nil, attempt, err
		}
		fmt.Fprintf(os.Stderr, "attempt %d: %s; retrying in %s\n", attempt, describe(err), wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, attempt, err
		}
	}
}

// retryDelay says whether another attempt with the same key may succeed and how long to wait
// first: the gate's RetryInfo delay when it names one, else backoff with full jitter.
func retryDelay(err error, attempt int) (time.Duration, bool) {
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeResourceExhausted, connect.CodeAborted,
		// The outcome is unknown; the idempotency key makes the retry learn it.
		connect.CodeDeadlineExceeded, connect.CodeInternal, connect.CodeUnknown:
	default:
		return 0, false
	}
	var connectErr *connect.Error
	if errors.As(err, &connectErr) {
		for _, detail := range connectErr.Details() {
			if msg, derr := detail.Value(); derr == nil {
				if info, ok := msg.(*errdetails.RetryInfo); ok {
					return min(maxDelay, info.RetryDelay.AsDuration()), true
				}
			}
		}
	}
	// The shift is capped so that it cannot overflow; maxDelay is reached long before.
	backoff := min(maxDelay, baseDelay<<min(attempt-1, 20))
	return rand.N(backoff + 1), true
}

// newKey returns a random idempotency key: one per logical order, sent on every retry of it.
func newKey() string {
	b := make([]byte, 16)
	_, _ = crand.Read(b)
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
