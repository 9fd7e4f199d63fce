package transfer

import (
	"strconv"
	"time"

	"go.uber.org/zap"
)

// Observer learns of every transfer's lifecycle: metrics, an event stream
// for a receptionist console, call recording.
//
// TransferEvent is called from the owner goroutine of the call being
// transferred, in the order things happen for that call; calls run in
// parallel, so an Observer used by several calls must be safe for
// concurrent use. It must not block: hand the event to a channel or a
// counter and return.
type Observer interface {
	TransferEvent(TransferEvent)
}

// TransferEvent is one step of a transfer.
type TransferEvent struct {
	// Node is the Asterisk the call is on (Config.Node).
	Node       string
	Step       Step
	Kind       Kind
	CallID     string // transferd's id of the call ("c7")
	TransferID string // unique per transfer ("c7-t1")
	// Transferer, Transferee and Destination are extensions.
	Transferer, Transferee, Destination string
	// Outcome is set on StepEnded.
	Outcome Outcome
	// Reason says why a transfer failed or was refused, for people.
	Reason string
	// Elapsed is the time since StepStarted.
	Elapsed time.Duration
}

// Step is where a transfer is in its life.
type Step string

const (
	StepStarted  Step = "started"  // accepted: something is being done
	StepRinging  Step = "ringing"  // the target rings
	StepAnswered Step = "answered" // the target answered
	StepEnded    Step = "ended"    // final; see Outcome
)

// Outcome is how a transfer ended.
type Outcome string

const (
	OutcomeCompleted Outcome = "completed" // the transferee talks to the target
	OutcomeVoicemail Outcome = "voicemail" // the transferee is in a mailbox
	OutcomeRecalled  Outcome = "recalled"  // the transferer was rung back
	OutcomeRefused   Outcome = "refused"   // policy, unknown destination or mailbox
	OutcomeFailed    Outcome = "failed"    // a party or Asterisk failed it
	OutcomeCancelled Outcome = "cancelled" // the transferee hung up first
)

// nopObserver is the default Observer.
type nopObserver struct{}

func (nopObserver) TransferEvent(TransferEvent) {}

// transferRecord is the transfer a call reports on.
type transferRecord struct {
	ev      TransferEvent
	started time.Time
}

// transferStarted reports a transfer the call accepted.
func (c *call) transferStarted(kind Kind, req Request) {
	c.xferSeq++
	c.xfer = &transferRecord{started: time.Now(), ev: TransferEvent{
		Node: c.e.cfg.Node, Kind: kind, CallID: c.id, TransferID: c.id + "-t" + strconv.Itoa(c.xferSeq),
		Transferer: req.Transferer, Transferee: req.Transferee, Destination: req.Destination,
	}}
	c.emit(StepStarted, "", "")
}

// transferRinging reports that the target rings.
func (c *call) transferRinging() {
	if c.xfer != nil {
		c.emit(StepRinging, "", "")
	}
}

// transferAnswered reports that the target answered.
func (c *call) transferAnswered() {
	if c.xfer != nil {
		c.emit(StepAnswered, "", "")
	}
}

// transferEnded reports a transfer's outcome; a transfer refused before it
// started is reported as started and ended at once, so every transfer a
// phone asked for is counted.
func (c *call) transferEnded(kind Kind, req Request, outcome Outcome, reason string) {
	if c.xfer == nil {
		c.transferStarted(kind, req)
	}
	c.emit(StepEnded, outcome, reason)
	c.log.Info("transfer ended", zap.String("transfer", string(c.xfer.ev.Kind)), zap.String("transfer_id", c.xfer.ev.TransferID),
		zap.String("outcome", string(outcome)), zap.String("reason", reason), zap.Duration("elapsed", time.Since(c.xfer.started)))
	c.xfer = nil
}

func (c *call) emit(step Step, outcome Outcome, reason string) {
	ev := c.xfer.ev
	ev.Step, ev.Outcome, ev.Reason, ev.Elapsed = step, outcome, reason, time.Since(c.xfer.started)
	c.e.observer.TransferEvent(ev)
}
