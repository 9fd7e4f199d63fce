package main

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// staleNodeAfter is how long a node's Asterisk may stay disconnected
// (outbound mode) before its engine here is retired. Asterisk reconnects
// within a second (reconnect_interval): one still away after this long
// is served by another replica, or down. Its calls are Asterisk's; a
// node engine started afresh adopts them if it comes back here.
const staleNodeAfter = 30 * time.Second

// stale reports whether a node whose stream went down at downSince (zero:
// it is up) and may stay away for after should be retired at now.
func stale(downSince, now time.Time, after time.Duration) bool {
	return !downSince.IsZero() && now.Sub(downSince) >= after
}

// retireStaleNodes retires, every few seconds until ctx ends, the nodes
// whose Asterisk has been away for staleNodeAfter: without it a replica
// kept a node's engine after the node moved to another replica, with
// calls that had long ended there counted in its node_active_calls, until
// that Asterisk came back (perhaps never).
func (s *nodeSet) retireStaleNodes(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			for _, n := range s.all() {
				if stale(n.downSince(), now, s.staleAfter) {
					s.retire(n)
				}
			}
		}
	}
}

// retire stops n's engine without touching its calls in Asterisk, closes
// its client and forgets it: the node's next connection starts a new one.
func (s *nodeSet) retire(n *node) {
	s.mu.Lock()
	if s.nodes[n.name] != n {
		s.mu.Unlock()
		return
	}
	delete(s.nodes, n.name)
	s.mu.Unlock()
	n.retire()
	<-n.done
	n.client.Close()
	n.log.Info("node retired: its Asterisk has been away too long (served elsewhere, or down); its calls stay in Asterisk and are adopted when it connects again",
		zap.Duration("away_for_at_least", s.staleAfter), zap.Int("calls_forgotten", n.engine.ActiveCalls()))
	s.onChange()
}
