// Command place-order places one order against a running Flux-Gate over gRPC (HTTP/2 without
// TLS), reads it back with GetOrder and prints both. It retries the order the way every client
// should: under one idempotency key, after the delay the gate names (RetryInfo), for as long as
// the overall deadline allows, and never after a final refusal (sold out, limits, invalid...).
// It exits non-zero on any error, printing the refusal's code and machine-readable reason.
//
// With -queue, a refusal for the sale's rate is not retried blind: the program waits in the
// sale's queue with the ticket the refusal holds (QueueService.WatchTicket, printing where the
// ticket stands), and once the ticket is called sends the order again, same key, with the
// ticket. It exits non-zero if the sale sells out or ends, or the turn passes, before that.
//
//	go run ./cmd/place-order -addr http://127.0.0.1:8080 -sku DEMO-1 -qty 1 -customer alice -queue
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
	deadline := flag.Duration("deadline", 30*time.Second, "time the order may take, retries and queue included")
	queue := flag.Bool("queue", false, "refused for the sale's rate: wait in its queue, then buy with its ticket")
	flag.Parse()
	if err := run(*addr, *sku, int32(*qty), *customer, *deadline, *queue); err != nil {
		fmt.Fprintln(os.Stderr, "error:", describe(err))
		os.Exit(1)
	}
}

func run(addr, sku string, qty int32, customer string, deadline time.Duration, queue bool) error {
	// gRPC needs HTTP/2; without TLS that is "h2c" (prior knowledge), which net/http speaks natively.
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	httpClient := &http.Client{Transport: &http.Transport{Protocols: protocols}}
	client := fluxgatev1connect.NewOrderGateServiceClient(httpClient, addr, connect.WithGRPC())
	var waitingRoom fluxgatev1connect.QueueServiceClient
	if queue {
		waitingRoom = fluxgatev1connect.NewQueueServiceClient(httpClient, addr, connect.WithGRPC())
	}

	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	key := newKey()
	placed, attempts, err := placeOrder(ctx, client, waitingRoom, &fluxgatev1.PlaceOrderRequest{
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
// error. Each attempt gets attemptTimeout, or less when ctx has less left. With a waiting room,
// a refusal that holds a ticket is waited out in the queue instead, and the request then
// carries the ticket.
func placeOrder(
	ctx context.Context,
	client fluxgatev1connect.OrderGateServiceClient,
	waitingRoom fluxgatev1connect.QueueServiceClient,
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
		// A ticket already sent and refused again (the gate does not see it called yet) is not
		// watched again, which would answer CALLED at once: the gate's delay paces the retry.
		if ticket := ticketOf(err); waitingRoom != nil && ticket != nil && ticket.Token != req.QueueTicket {
			fmt.Printf("queued ticket=%d after attempt %d: %s; waiting in the queue\n", ticket.Number, attempt, describe(err))
			if err := waitForCall(ctx, waitingRoom, ticket); err != nil {
				return nil, attempt, err
			}
			req.QueueTicket = ticket.Token
			continue
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

// waitForCall watches the ticket until it is called (nil), or returns why it will not be.
func waitForCall(
	ctx context.Context,
	waitingRoom fluxgatev1connect.QueueServiceClient,
	ticket *fluxgatev1.WaitingRoomTicket,
) error {
	for {
		status, err := watch(ctx, waitingRoom, ticket.Token)
		if status == nil {
			if ctx.Err() != nil {
				return fmt.Errorf("ticket %d: still waiting in the queue at the deadline", ticket.Number)
			}
			if err != nil && connect.CodeOf(err) != connect.CodeDeadlineExceeded {
				return err
			}
			continue // The gate ended the call at its longest deadline: watch again.
		}
		switch status.State {
		// USED: an order holds the ticket already. The gate answers a retry of that order (same
		// key) with it and refuses any other order (TICKET_USED): sending it lets the gate say.
		case fluxgatev1.TicketState_TICKET_STATE_CALLED, fluxgatev1.TicketState_TICKET_STATE_USED:
			fmt.Printf("called ticket=%d until=%s: ordering with the ticket\n",
				ticket.Number, status.CalledUntil.AsTime().Format(time.RFC3339Nano))
			return nil
		case fluxgatev1.TicketState_TICKET_STATE_SOLD_OUT:
			return fmt.Errorf("ticket %d: the sale sold out while waiting in the queue", ticket.Number)
		case fluxgatev1.TicketState_TICKET_STATE_SALE_ENDED:
			return fmt.Errorf("ticket %d: the sale ended while waiting in the queue", ticket.Number)
		case fluxgatev1.TicketState_TICKET_STATE_EXPIRED:
			return fmt.Errorf("ticket %d: its turn passed before it was used", ticket.Number)
		default:
			return fmt.Errorf("ticket %d: unexpected state %s", ticket.Number, status.State)
		}
	}
}

// watch follows one WatchTicket call, printing where the ticket stands while it waits, and
// returns its first state that is not WAITING, or nil when the call ends before one.
func watch(
	ctx context.Context,
	waitingRoom fluxgatev1connect.QueueServiceClient,
	token string,
) (*fluxgatev1.TicketStatus, error) {
	stream, err := waitingRoom.WatchTicket(ctx, connect.NewRequest(&fluxgatev1.WatchTicketRequest{Ticket: token}))
	if err != nil {
		return nil, err
	}
	defer stream.Close()
	for stream.Receive() {
		s := stream.Msg().GetStatus()
		if s.GetState() != fluxgatev1.TicketState_TICKET_STATE_WAITING {
			return s, nil
		}
		fmt.Printf("waiting ticket=%d position=%d people_ahead=%d now_serving=%d estimated_wait=%.1fs\n",
			s.Number, s.Position, s.PeopleAhead, s.NowServing, s.EstimatedWait.AsDuration().Seconds())
	}
	return nil, stream.Err()
}

// ticketOf returns the waiting-room ticket a refusal for the sale's rate holds, or nil.
func ticketOf(err error) *fluxgatev1.WaitingRoomTicket {
	var connectErr *connect.Error
	if errors.As(err, &connectErr) {
		for _, detail := range connectErr.Details() {
			if msg, derr := detail.Value(); derr == nil {
				if ticket, ok := msg.(*fluxgatev1.WaitingRoomTicket); ok && ticket.Token != "" {
					return ticket
				}
			}
		}
	}
	return nil
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
