package transfer

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/transferd/transferd/ari"
)

// businessHours is an integrator's transfer policy: the front desk (100)
// may not be a transfer destination, everything else follows the default.
type businessHours struct{ next Policy }

func (p businessHours) AllowTransfer(ctx context.Context, req Request) error {
	if req.Destination == "100" {
		return fmt.Errorf("the front desk takes no transfers: %w", ErrRefused)
	}
	return p.next.AllowTransfer(ctx, req)
}

// printer is an integrator's observer (a CRM feed, say).
type printer struct{ done chan struct{} }

func (p printer) TransferEvent(ev TransferEvent) {
	fmt.Println(strings.TrimSpace(fmt.Sprint(ev.Step, " ", ev.Kind, " ", ev.Destination, " ", ev.Outcome)))
	if ev.Step == StepEnded && ev.Outcome == OutcomeCompleted {
		close(p.done)
	}
}

// An integrator's build of transferd: the engine with a custom transfer
// policy and an observer of the transfer lifecycle. (transferd's own main
// wires the engine the same way, with an ARI client as Asterisk; here a
// scripted Asterisk plays a call whose callee transfers it to 103.)
func ExampleNew() {
	cfg := Config{App: "transferd"}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	events := make(chan ari.Event, 64)
	asterisk := &scriptedAsterisk{events: events} // in production: NewARIAsterisk(client, app)
	obs := printer{done: make(chan struct{})}
	engine, err := New(cfg, asterisk, Options{
		Policy:   businessHours{next: NewPatternRouter(cfg)},
		Observer: obs,
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go engine.Run(ctx, events) // in production: client.Subscribe's channel

	// A phone calls 102 (the scripted Asterisk then plays the rest).
	asterisk.emit(&ari.StasisStart{Channel: ari.Channel{
		ID: "caller-" + engine.boot + "-1", Name: "PJSIP/101-1", State: "Ring",
		Caller: ari.CallerID{Number: "101"}, Dialplan: ari.DialplanCEP{Exten: "102"},
	}})
	select {
	case <-obs.done:
	case <-time.After(5 * time.Second):
		fmt.Println("timed out")
	}
	fmt.Println(strings.Repeat("-", 3), businessHours{next: NewPatternRouter(cfg)}.AllowTransfer(ctx, Request{Destination: "100"}))
	// Output:
	// started blind 103
	// ringing blind 103
	// answered blind 103
	// ended blind 103 completed
	// --- the front desk takes no transfers: refused by transfer policy
}
