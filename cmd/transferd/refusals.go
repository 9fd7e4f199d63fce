package main

import (
	"sync"

	"go.uber.org/zap"
)

// refusals logs the outbound connections transferd refuses. Asterisk
// retries a refused connection every reconnect_interval (200 ms in the
// README's configuration), so each refusal is told once per node and
// reason, with what to change, and its repeats only at debug level until
// that node's connection is accepted.
type refusals struct {
	log  *zap.Logger
	mu   sync.Mutex
	told map[string]int // node + "\x00" + reason → refusals since told
}

// maxRefusalsTold bounds the node and reason pairs remembered.
const maxRefusalsTold = 1024

func newRefusals(log *zap.Logger) *refusals {
	return &refusals{log: log, told: map[string]int{}}
}

// refused logs a refused connection of node (the name its path gives)
// for reason (the message, saying what to change).
func (r *refusals) refused(node, reason string, fields ...zap.Field) {
	key := node + "\x00" + reason
	r.mu.Lock()
	n, known := r.told[key]
	if known || len(r.told) < maxRefusalsTold {
		r.told[key] = n + 1
	} else {
		// (Names come from whoever connects: the memory of them is
		// bounded; past it, refusals are only at debug level, so that
		// nobody can flood the log either.)
		n = 1
	}
	r.mu.Unlock()
	fields = append(fields, zap.String("node", node))
	if n > 0 {
		r.log.Debug(reason, append(fields, zap.Int("refused_again", n))...)
		return
	}
	r.log.Warn(reason, append(fields, zap.String("repeats", "logged at debug level until this node's connection is accepted"))...)
}

// accepted forgets node's refusals: the next one is told again.
func (r *refusals) accepted(node string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key := range r.told {
		if len(key) > len(node) && key[:len(node)+1] == node+"\x00" {
			delete(r.told, key)
		}
	}
}
