package transfer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/transferd/transferd/ari"
)

// The engine: its type, New, the dispatch loop (Run, Handle) and the
// start of each call's owner. The table that routes ids to calls, the
// only state the dispatcher shares with the owners, is routing.go; how the
// engine chooses the transfer handling of the connected Asterisk is in
// handling.go; translating ARI events into inputs is events.go.

// Engine runs every call that enters transferd's Stasis application. It
// routes each ARI event, in arrival order, to the owner goroutine of the
// call the event concerns, and starts an owner for each new call.
type Engine struct {
	cfg      Config
	ast      Asterisk
	router   Router
	policy   Policy
	observer Observer
	log      *zap.Logger

	// ctx is the owners' context, cancelled when Run returns (owners then
	// leave their calls in Asterisk).
	ctx    context.Context
	cancel context.CancelFunc
	boot   string // start time in base 36, prefix of call ids
	// decision is the transfer handling chosen for the connected Asterisk
	// (CheckAsterisk; nil until then). Owners read it, Run writes it.
	decision atomic.Pointer[HandlingDecision]
	nextID   atomic.Uint64
	wg       sync.WaitGroup
	// quiescing: the connection is being handed over (Quiesce); stepping
	// counts owners in a step, dispatching the events being routed (Quiet).
	quiescing   atomic.Bool
	stepping    atomic.Int64
	dispatching atomic.Int64
	// deferring counts calls holding an attended transfer's final NOTIFY
	// back (the attended machine telling its transferer; stepAttended).
	deferring atomic.Int64

	// owners maps every channel and bridge id a call owns to that call.
	// Owners claim ids before creating the resource (so its first event
	// finds them) and the dispatcher reads the map; that is the only
	// state shared between goroutines, hence the lock.
	mu     sync.Mutex
	owners map[string]*call
	// routed: the ids the dispatcher routed to each call on its own
	// (channels Asterisk swapped in, core handling), for retire to stop
	// routing them. The engine's, not the call's: the dispatcher and a
	// merging call write it, never the call's owner alone.
	routed map[*call][]string
	// owedHangups: channels a call gave up on because Asterisk could not
	// be reached to hang them up; Reconcile hangs up those still there.
	owedHangups map[string]bool
	calls       map[*call]struct{}
	// byExten lists the calls that have a leg of an extension, oldest
	// first (owners add, retire and merge remove).
	byExten map[string][]*call
	// probeSlots bounds the probes for lost REFERs in flight
	// (referprobe.go).
	probeSlots chan struct{}
}

// Options are the engine's optional collaborators.
type Options struct {
	// Router turns extensions into dial strings (default: PatternRouter).
	Router Router
	// Policy decides which transfers are allowed (default: PatternRouter,
	// internal extensions only).
	Policy Policy
	// Logger receives the engine's logs (default: none).
	Logger *zap.Logger
	// Observer learns of every transfer's lifecycle (default: none).
	Observer Observer
}

// New returns an engine for a Config. It validates (and fills defaults in)
// cfg.
func New(cfg Config, ast Asterisk, opts Options) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("transfer: config: %w", err)
	}
	e := &Engine{
		cfg: cfg, ast: ast, router: opts.Router, policy: opts.Policy, observer: opts.Observer, log: opts.Logger,
		owners: make(map[string]*call), routed: make(map[*call][]string), owedHangups: make(map[string]bool), calls: make(map[*call]struct{}), byExten: make(map[string][]*call),
		probeSlots: make(chan struct{}, probeConcurrency),
	}
	// The start time, and a random part: replicas started in the same
	// second (systemd, compose, a load test) would otherwise number their
	// calls alike, and one adopting the other's calls would then create
	// ids that exist (seen under load: 409 "Bridge ... already exists").
	e.boot = "c" + strconv.FormatInt(time.Now().Unix(), 36) + strconv.FormatInt(rand.Int64N(36*36*36), 36)
	e.ctx, e.cancel = context.WithCancel(context.Background())
	def := NewPatternRouter(cfg)
	if e.router == nil {
		e.router = def
	}
	if e.policy == nil {
		e.policy = def
	}
	if e.observer == nil {
		e.observer = nopObserver{}
	}
	if e.log == nil {
		e.log = zap.NewNop()
	}
	return e, nil
}

// Run handles events until ctx is cancelled or events is closed, then waits
// for the call owners to return. Stopping the engine does not hang up
// calls: they stay in Asterisk.
func (e *Engine) Run(ctx context.Context, events <-chan ari.Event) error {
	defer func() {
		e.cancel()
		e.wg.Wait()
	}()
	if e.decision.Load() == nil {
		e.CheckAsterisk(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			if _, ok := ev.(*ari.Reconnected); ok {
				// Asterisk may have been upgraded or replaced meanwhile.
				e.CheckAsterisk(ctx)
				// Events were lost while disconnected: catch up with what
				// Asterisk holds before handling newer ones.
				if err := e.Reconcile(ctx); err != nil {
					e.log.Error("reconcile after reconnect failed", zap.Error(err))
				}
				continue
			}
			e.dispatching.Add(1)
			e.Handle(ev)
			e.dispatching.Add(-1)
		}
	}
}

// Handle routes one event. It must be called from one goroutine, in the
// order Asterisk sent the events (Run does so). It never blocks on a call.
func (e *Engine) Handle(ev ari.Event) {
	ids, in := translate(e.cfg.App, ev)
	if ce := e.log.Check(zap.DebugLevel, "event"); ce != nil {
		input := "" // (not one the engine acts on)
		if in != nil {
			input = in.inputName()
		}
		ce.Write(zap.String("event", ev.EventType()), zap.String("input", input), zap.Strings("ids", ids))
	}
	if in == nil {
		return
	}
	switch in := in.(type) {
	case legReplaced:
		if !e.followReplacement(in) {
			e.log.Warn("Asterisk replaced a channel of no call", zap.String("replaced", in.oldID),
				zap.String("channel", in.newID), zap.String("channel_name", in.newName))
		}
		return
	case callArrived:
		if e.ownerOf(in.channelID) == nil {
			e.startCall(in)
			return
		}
		in.ownLeg = true
		if !e.deliver(ids, in) {
			e.log.Debug("event for no call", zap.String("event", ev.EventType()), zap.Strings("ids", ids))
		}
		return
	}
	if !e.deliver(ids, in) {
		e.log.Debug("event for no call", zap.String("event", ev.EventType()), zap.Strings("ids", ids))
	}
}

// newCall is a call with its machines set up from the configuration (their
// zero values are not usable), not yet registered.
func (e *Engine) newCall(id string, log *zap.Logger) *call {
	return &call{id: id, e: e, box: newMailbox(), log: log,
		basic: newBasicMachine(e.cfg.NoAnswer == NoAnswerVoicemail),
		vm:    newVMEntry(e.cfg.VoicemailCode, e.cfg.DigitTimeout),
		blind: newBlindMachine(blindPolicy{recallOnNoAnswer: e.cfg.TransferNoAnswer == NoAnswerRecall, voicemailCode: e.cfg.VoicemailCode})}
}

// startCall creates the owner of a new call and feeds it its first input.
func (e *Engine) startCall(in callArrived) {
	// Call ids carry the engine's start time, so they never collide with
	// the ids of calls a previous transferd left (and this one adopts).
	id := fmt.Sprintf("%s-%d", e.boot, e.nextID.Add(1))
	c := e.newCall(id, e.log.With(zap.String("call", id)))
	e.mu.Lock()
	e.calls[c] = struct{}{}
	e.mu.Unlock()
	e.claim(in.channelID, c)
	c.box.put(in)
	e.startOwner(c)
}

// startOwner runs c's owner goroutine until the call is over or the engine
// stops.
func (e *Engine) startOwner(c *call) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		c.run(e.ctx)
	}()
}
