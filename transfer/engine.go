package transfer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/transferd/transferd/ari"
)

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
	calls  map[*call]struct{}
	// byExten lists the calls that have a leg of an extension, oldest
	// first (owners add, retire and merge remove).
	byExten map[string][]*call
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
		owners: make(map[string]*call), routed: make(map[*call][]string), calls: make(map[*call]struct{}), byExten: make(map[string][]*call),
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

// CheckAsterisk reads the connected Asterisk's version and decides the
// transfer handling phones get from now on (DecideHandling), logging the
// decision when it is new or changed. Run calls it when it starts (unless
// the caller did) and after every reconnect.
func (e *Engine) CheckAsterisk(ctx context.Context) HandlingDecision {
	cctx, cancel := context.WithTimeout(ctx, e.cfg.CommandTimeout)
	version, err := e.ast.Version(cctx)
	cancel()
	if ctx.Err() != nil {
		// Stopping: an unread version says nothing about Asterisk (it
		// was logged as "core chosen", misleadingly).
		if old := e.decision.Load(); old != nil {
			return *old
		}
		return HandlingDecision{}
	}
	d := DecideHandling(e.cfg.Handling, version, err)
	old := e.decision.Swap(&d)
	if old != nil && old.Mode == d.Mode && old.Asterisk == d.Asterisk {
		return d
	}
	var defects []string
	for _, def := range d.Defects {
		defects = append(defects, def.ID+": "+def.Summary)
	}
	fields := []zap.Field{zap.String("handling", d.Mode), zap.String("configured", d.Configured),
		zap.String("asterisk", d.Asterisk), zap.String("reason", d.Reason), zap.Strings("known_defects", defects)}
	switch {
	case d.CrashRisk:
		e.log.Error("transfer handling chosen: ari-only on an Asterisk that a phone can crash", fields...)
	case d.Mode == HandlingCore && d.Configured == HandlingAuto:
		e.log.Warn("transfer handling chosen: Asterisk's own (core)", fields...)
	default:
		e.log.Info("transfer handling chosen", fields...)
	}
	return d
}

// Handling returns the transfer handling in use and why (the zero value
// before the first CheckAsterisk).
func (e *Engine) Handling() HandlingDecision {
	if d := e.decision.Load(); d != nil {
		return *d
	}
	return HandlingDecision{}
}

// handlingOf returns the transfer handling of the phone with extension
// exten: core for Config.CoreExtensions, else the decision for the
// connected Asterisk; before there is one, core unless ari-only is forced
// (no phone is left one REFER away from a crash).
func (e *Engine) handlingOf(exten string) string {
	if e.cfg.coreRE != nil && e.cfg.coreRE.MatchString(exten) {
		return HandlingCore
	}
	if d := e.decision.Load(); d != nil {
		return d.Mode
	}
	if e.cfg.Handling == HandlingARIOnly {
		return HandlingARIOnly
	}
	return HandlingCore
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

// deliver puts in into the mailbox of the call owning the first of ids it
// knows. Lookup and put happen under the lock that merge takes, so an
// input is never put into the mailbox of a call that was just merged
// into another one.
func (e *Engine) deliver(ids []string, in input) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range ids {
		if c := e.owners[id]; c != nil {
			if !c.box.put(in) {
				e.log.Debug("input for a finished call", zap.String("input", in.inputName()), zap.String("id", id))
			}
			return true
		}
	}
	return false
}

// followReplacement routes the channel Asterisk swapped in for one of a
// call's channels (core transfer handling) to that call, together with the
// Local pair it belongs to, before any later event of it is handled.
func (e *Engine) followReplacement(in legReplaced) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.owners[in.oldID]
	if c == nil {
		return false
	}
	e.owners[in.newID] = c
	e.routed[c] = append(e.routed[c], in.newID)
	if strings.HasPrefix(in.newName, "Local/") {
		// The call holding the other half of the pair finds this one by
		// name (an attended transfer Asterisk performed).
		e.owners[localKey(in.newName)] = c
		e.routed[c] = append(e.routed[c], localKey(in.newName))
	}
	c.box.put(in)
	return true
}

// newCall is a call with its machines set up from the configuration (their
// zero values are not usable), not yet registered.
func (e *Engine) newCall(id string, log *zap.Logger) *call {
	return &call{id: id, e: e, box: newMailbox(), log: log,
		basic: newBasicMachine(e.cfg.NoAnswer == NoAnswerVoicemail),
		vm:    newVMEntry(e.cfg.VoicemailCode, e.cfg.DigitTimeout),
		blind: newBlindMachine(e.cfg.TransferNoAnswer == NoAnswerRecall)}
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

func (e *Engine) ownerOf(id string) *call {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.owners[id]
}

// claim routes the events of a channel or bridge id to c. Only c's owner
// (or startCall, before the owner runs) calls it.
func (e *Engine) claim(id string, c *call) {
	c.ids = append(c.ids, id)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.owners[id] = c
}

// release stops routing id.
func (e *Engine) release(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.owners, id)
}

// retire forgets a call whose owner has nothing left to do. It fails (the
// owner must go on) while inputs are queued: one of them may be another
// call merged into this one.
func (e *Engine) retire(c *call) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c.box.len() > 0 {
		return false
	}
	if c.attended.telling() {
		// (Its phone is gone with the call; retire is called by the owner,
		// which alone touches the machine.)
		if c.tellTimer != nil {
			c.tellTimer.Stop()
		}
		c.attended = attendedMachine{}
		c.e.deferring.Add(-1)
	}
	c.box.close()
	for _, id := range slices.Concat(c.ids, e.routed[c]) {
		if e.owners[id] == c {
			delete(e.owners, id)
		}
	}
	delete(e.routed, c)
	for _, ext := range c.extens {
		e.dropExten(ext, c)
	}
	delete(e.calls, c)
	return true
}

// abandon forgets a call when the engine stops (its resources stay in
// Asterisk for a successor to adopt).
func (e *Engine) abandon(c *call) {
	c.box.close()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range slices.Concat(c.ids, e.routed[c]) {
		if e.owners[id] == c {
			delete(e.owners, id)
		}
	}
	delete(e.routed, c)
	for _, ext := range c.extens {
		e.dropExten(ext, c)
	}
	delete(e.calls, c)
}

// merge hands every id of from over to the call into, atomically with
// respect to deliver: into receives first, then the inputs from had not
// processed yet (rest, then its mailbox), then every later event. It fails
// if into has already finished.
func (e *Engine) merge(from, into *call, first input, rest []input) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !into.box.put(first) {
		return false
	}
	for _, id := range slices.Concat(from.ids, e.routed[from]) {
		if e.owners[id] == from {
			e.owners[id] = into
		}
	}
	e.routed[into] = append(e.routed[into], e.routed[from]...)
	delete(e.routed, from)
	for _, ext := range from.extens {
		e.dropExten(ext, from)
		e.byExten[ext] = append(e.byExten[ext], into)
	}
	for _, in := range append(rest, from.box.close()...) {
		into.box.put(in)
	}
	delete(e.calls, from)
	return true
}

// noteExten records that c has a leg of extension ext, so that a call can
// find the consultation call of a transferer who hangs up.
func (e *Engine) noteExten(ext string, c *call) {
	if ext == "" {
		return
	}
	c.extens = append(c.extens, ext)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.byExten[ext] = append(e.byExten[ext], c)
}

func (e *Engine) dropExten(ext string, c *call) {
	list := e.byExten[ext]
	for i, x := range list {
		if x == c {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(e.byExten, ext)
	} else {
		e.byExten[ext] = list
	}
}

// callsOf returns the other calls with a leg of extension ext, newest
// first.
func (e *Engine) callsOf(ext string, except *call) []*call {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*call
	list := e.byExten[ext]
	for i := len(list) - 1; i >= 0; i-- {
		if list[i] != except {
			out = append(out, list[i])
		}
	}
	return out
}

// ActiveCalls reports how many calls the engine owns.
func (e *Engine) ActiveCalls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.calls)
}
