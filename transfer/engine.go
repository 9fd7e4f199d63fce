package transfer

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/transferd/transferd/ari"
)

// Engine runs every call that enters transferd's Stasis application. It
// routes each ARI event, in arrival order, to the owner goroutine of the
// call the event concerns, and starts an owner for each new call.
type Engine struct {
	cfg    Config
	ast    Asterisk
	router Router
	policy Policy
	log    *zap.Logger

	ctx    context.Context // owners' context: cancelled when Run returns
	nextID atomic.Uint64
	wg     sync.WaitGroup

	// owners maps every channel and bridge id a call owns to that call.
	// Owners claim ids before creating the resource (so its first event
	// finds them) and the dispatcher reads the map; that is the only
	// state shared between goroutines, hence the lock.
	mu     sync.Mutex
	owners map[string]*call
	calls  map[*call]struct{}
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
}

// New returns an engine for a Config. It validates (and fills defaults in)
// cfg.
func New(cfg Config, ast Asterisk, opts Options) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("transfer: config: %w", err)
	}
	e := &Engine{
		cfg: cfg, ast: ast, router: opts.Router, policy: opts.Policy, log: opts.Logger,
		owners: make(map[string]*call), calls: make(map[*call]struct{}),
	}
	def := NewPatternRouter(cfg)
	if e.router == nil {
		e.router = def
	}
	if e.policy == nil {
		e.policy = def
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
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		e.wg.Wait()
	}()
	e.ctx = ctx
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			e.Handle(ev)
		}
	}
}

// Handle routes one event. It must be called from one goroutine, in the
// order Asterisk sent the events (Run does so). It never blocks on a call.
func (e *Engine) Handle(ev ari.Event) {
	ids, in := translate(e.cfg.App, ev)
	if in == nil {
		return
	}
	if arrived, ok := in.(callArrived); ok {
		if e.ownerOf(arrived.channelID) == nil {
			e.startCall(arrived)
			return
		}
	}
	for _, id := range ids {
		if c := e.ownerOf(id); c != nil {
			if !c.box.put(in) {
				e.log.Debug("event for a finished call", zap.String("event", ev.EventType()), zap.String("id", id))
			}
			return
		}
	}
	e.log.Debug("event for no call", zap.String("event", ev.EventType()), zap.Strings("ids", ids))
}

// startCall creates the owner of a new call and feeds it its first input.
func (e *Engine) startCall(in callArrived) {
	if e.ctx == nil {
		e.ctx = context.Background()
	}
	id := fmt.Sprintf("c%d", e.nextID.Add(1))
	c := &call{id: id, e: e, box: newMailbox(), log: e.log.With(zap.String("call", id))}
	e.mu.Lock()
	e.calls[c] = struct{}{}
	e.mu.Unlock()
	e.claim(in.channelID, c)
	c.box.put(in)
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

// finished forgets a call whose owner returned.
func (e *Engine) finished(c *call) {
	c.box.close()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range c.ids {
		if e.owners[id] == c {
			delete(e.owners, id)
		}
	}
	delete(e.calls, c)
}

// ActiveCalls reports how many calls the engine owns.
func (e *Engine) ActiveCalls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.calls)
}
