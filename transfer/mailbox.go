package transfer

import "sync"

// mailbox is a call owner's unbounded, ordered queue of inputs. The event
// dispatcher must never block on one slow call (that would stall every
// other call) and must never drop an input (a lost hangup leaks a channel),
// so the queue grows instead; its length is reported as lag.
type mailbox struct {
	mu     sync.Mutex
	queue  []input
	ready  chan struct{} // holds a token while queue is non-empty
	closed bool
}

func newMailbox() *mailbox {
	return &mailbox{ready: make(chan struct{}, 1)}
}

// put appends an input; it never blocks. It reports false once the owner
// has finished (the input is then for nobody).
func (m *mailbox) put(in input) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.queue = append(m.queue, in)
	select {
	case m.ready <- struct{}{}:
	default:
	}
	return true
}

// take removes and returns every queued input, in order.
func (m *mailbox) take() []input {
	m.mu.Lock()
	defer m.mu.Unlock()
	batch := m.queue
	m.queue = nil
	return batch
}

// close refuses further inputs and returns any left unprocessed.
func (m *mailbox) close() []input {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	left := m.queue
	m.queue = nil
	return left
}

// requeue puts inputs taken with take and not handled back at the front of
// the queue, in order (a quiesced owner leaves them: Engine.Quiesce). No
// token is left for them.
func (m *mailbox) requeue(ins []input) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.queue = append(append([]input(nil), ins...), m.queue...)
}

// extract removes and returns the queued inputs that satisfy match.
func (m *mailbox) extract(match func(input) bool) []input {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []input
	kept := m.queue[:0]
	for _, in := range m.queue {
		if match(in) {
			out = append(out, in)
		} else {
			kept = append(kept, in)
		}
	}
	m.queue = kept
	return out
}

// has reports whether a queued input satisfies match.
func (m *mailbox) has(match func(input) bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, in := range m.queue {
		if match(in) {
			return true
		}
	}
	return false
}

// len reports how many inputs wait.
func (m *mailbox) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.queue)
}
