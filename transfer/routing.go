package transfer

import (
	"slices"
	"strings"

	"go.uber.org/zap"
)

// The engine's routing table: which call owns each channel and bridge id
// (Engine.owners, with the ids the dispatcher routed on a call's behalf,
// Engine.routed), which calls have a leg of each extension
// (Engine.byExten), and the calls themselves. The dispatcher reads it and
// the owners write it, under Engine.mu: the only state shared between
// goroutines. A call enters it (claim), hands it over (merge) and leaves it
// (retire, abandon) only here.

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
	e.forget(c)
	return true
}

// forget stops routing anything to c (e.mu held).
func (e *Engine) forget(c *call) {
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

// abandon forgets a call when the engine stops (its resources stay in
// Asterisk for a successor to adopt).
func (e *Engine) abandon(c *call) {
	c.box.close()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.forget(c)
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
