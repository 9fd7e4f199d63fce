package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/transferd/transferd/transfer"
)

// api is transferd's REST API for integrators (receptionist consoles,
// CRMs): list calls, transfer them, follow transfers as server-sent
// events. It is described by openapi.yaml; every request needs the bearer
// token (api.token).
type api struct {
	calls  callsBackend
	token  string
	events *broadcaster
	log    *zap.Logger
}

// callsBackend is what the API lists and transfers: the calls of the
// nodes this transferd serves (nodeSet) or, in a cluster, of every node
// any replica serves (cluster).
type callsBackend interface {
	Calls(ctx context.Context) ([]transfer.CallInfo, error)
	StartTransfer(ctx context.Context, callID string, cmd transfer.TransferCommand) (string, error)
	CompleteTransfer(ctx context.Context, callID string) error
	CancelTransfer(ctx context.Context, callID string) error
}

func (a *api) routes(mux *http.ServeMux) {
	mux.Handle("GET /v1/calls", a.auth(a.listCalls))
	mux.Handle("POST /v1/calls/{id}/transfers", a.auth(a.startTransfer))
	mux.Handle("POST /v1/calls/{id}/transfer/complete", a.auth(a.complete))
	mux.Handle("POST /v1/calls/{id}/transfer/cancel", a.auth(a.cancel))
	mux.Handle("GET /v1/events", a.auth(a.stream))
}

// auth admits requests that carry the token.
func (a *api) auth(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.token == "" {
			writeError(w, http.StatusServiceUnavailable, errors.New("the API is disabled: set api.token (or api.token_file)"))
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="transferd"`)
			writeError(w, http.StatusUnauthorized, errors.New("missing or wrong bearer token"))
			return
		}
		next(w, r)
	})
}

func (a *api) listCalls(w http.ResponseWriter, r *http.Request) {
	calls, err := a.calls.Calls(r.Context())
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, calls)
}

func (a *api) startTransfer(w http.ResponseWriter, r *http.Request) {
	var cmd transfer.TransferCommand
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cmd); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("request body: %w", err))
		return
	}
	if cmd.Destination == "" {
		writeError(w, http.StatusBadRequest, errors.New("destination: missing"))
		return
	}
	id, err := a.calls.StartTransfer(r.Context(), r.PathValue("id"), cmd)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"transfer_id": id})
}

func (a *api) complete(w http.ResponseWriter, r *http.Request) {
	if err := a.calls.CompleteTransfer(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) cancel(w http.ResponseWriter, r *http.Request) {
	if err := a.calls.CancelTransfer(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// stream sends every transfer event as a server-sent event until the
// client goes away.
func (a *api) stream(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, errors.New("streaming unsupported"))
		return
	}
	events, unsubscribe := a.events.subscribe()
	defer unsubscribe()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": transferd transfer events\n\n")
	flusher.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
		case data, open := <-events:
			if !open {
				return // too slow a reader: dropped rather than stall calls
			}
			fmt.Fprintf(w, "event: transfer\ndata: %s\n\n", data)
		}
		flusher.Flush()
	}
}

// eventJSON is a transfer event as the API shows it.
func eventJSON(ev transfer.TransferEvent) map[string]any {
	out := map[string]any{
		"node": ev.Node, "step": ev.Step, "kind": ev.Kind, "call_id": ev.CallID, "transfer_id": ev.TransferID,
		"transferer": ev.Transferer, "transferee": ev.Transferee, "destination": ev.Destination,
		"elapsed_ms": ev.Elapsed.Milliseconds(),
	}
	if ev.Outcome != "" {
		out["outcome"] = ev.Outcome
	}
	if ev.Reason != "" {
		out["reason"] = ev.Reason
	}
	return out
}

// statusOf maps the engine's errors (and a remote replica's) to HTTP
// statuses.
func statusOf(err error) int {
	var remote *remoteError
	switch {
	case errors.As(err, &remote):
		return remote.status
	case errors.Is(err, transfer.ErrNoSuchCall):
		return http.StatusNotFound
	case errors.Is(err, transfer.ErrTransferInProgress), errors.Is(err, transfer.ErrNoConsultation):
		return http.StatusConflict
	case errors.Is(err, transfer.ErrRefused), errors.Is(err, transfer.ErrNoSuchExtension),
		errors.Is(err, transfer.ErrNoSuchMailbox), errors.Is(err, transfer.ErrNoSuchParty):
		return http.StatusUnprocessableEntity
	case errors.Is(err, transfer.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusGatewayTimeout
	}
	return http.StatusBadRequest
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// broadcaster fans transfer events (as the API shows them, JSON) out to
// API streams. Owners must never block on a reader: a stream that falls
// behind is closed.
type broadcaster struct {
	log  *zap.Logger
	mu   sync.Mutex
	subs map[chan []byte]struct{}
}

func newBroadcaster(log *zap.Logger) *broadcaster {
	return &broadcaster{log: log, subs: map[chan []byte]struct{}{}}
}

func (b *broadcaster) subscribe() (<-chan []byte, func()) {
	ch := make(chan []byte, 256)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[ch]; ok {
			delete(b.subs, ch)
			close(ch)
		}
	}
}

// TransferEvent implements transfer.Observer.
func (b *broadcaster) TransferEvent(ev transfer.TransferEvent) {
	data, _ := json.Marshal(eventJSON(ev))
	b.publish(data)
}

// publish sends an event's JSON to every stream.
func (b *broadcaster) publish(data []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- data:
		default:
			b.log.Warn("event stream reader too slow; closing its stream")
			delete(b.subs, ch)
			close(ch)
		}
	}
}

// observers calls several observers in turn.
type observers []transfer.Observer

func (o observers) TransferEvent(ev transfer.TransferEvent) {
	for _, x := range o {
		x.TransferEvent(ev)
	}
}
