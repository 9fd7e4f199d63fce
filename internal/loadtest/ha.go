package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/transferd/transferd/internal/freeport"
	"github.com/transferd/transferd/internal/haproxy"
	"github.com/transferd/transferd/internal/sandbox"
)

// haReplicas is how many transferd replicas transferd-ha and
// transferd-nodes run: issue 20's load run asks for two (one serving
// Asterisk, one ready to), and so does issue 24's (two nodes, two
// replicas).
const haReplicas = 2

// replicaSetup is what differs between the configurations with replicas.
type replicaSetup struct {
	config string // the configuration's name, for logs
	// balance is HAProxy's ("" is first: one Asterisk, a standby).
	balance string
	// serves: the series that name the replica each Asterisk (node) is
	// connected to. Every one must be served before a level starts; the
	// faults follow the first.
	serves []servingSeries
	// perReplica: scrape the replicas every second during a level and
	// report each one's CPU per transfer it ended.
	perReplica bool
}

// replicaSet is the transferd replicas behind HAProxy (the README's "High
// availability" topology, internal/haproxy), in outbound mode: each
// Asterisk's persistent websocket_client connects to HAProxy's front and
// lands on one replica. Each slot keeps its addresses, which HAProxy's
// configuration names, while the process in it is replaced (killed or
// upgraded) during a level.
type replicaSet struct {
	replicaSetup
	sb   *sandbox.Sandbox
	spec daemonSpec // settings common to every replica
	dir  string     // replicas' logs, HAProxy's configuration and log
	// poll scrapes the replicas' /metrics during a takeover, every few
	// milliseconds: a short timeout, since a dead replica refuses at once
	// and a stuck one must not hide the other.
	poll  *http.Client
	proxy *haproxy.Proxy
	logf  func(string, ...any)
	slots []*slot // fixed after startReplicas

	mu sync.Mutex // guards the slots' processes
}

// slot is one place behind HAProxy: a name and two addresses, and the
// process that runs there now (guarded by replicaSet.mu).
type slot struct {
	name, listen, ops string
	generation        int
	d                 *daemon
	retired           []*daemon // replaced processes, for the CPU they used
}

// startReplicas starts the replicas on loopback ports of their own, then
// HAProxy on front (where the Asterisks connect; sb's settings are the
// replicas' ari.url and credentials), and waits until every Asterisk is
// connected to one of them.
func startReplicas(ctx context.Context, sb *sandbox.Sandbox, spec daemonSpec, setup replicaSetup, front, dir string, logf func(string, ...any)) (*replicaSet, error) {
	h := &replicaSet{replicaSetup: setup, sb: sb, spec: spec, dir: dir, logf: logf,
		poll: &http.Client{Timeout: 500 * time.Millisecond, Transport: &http.Transport{DisableCompression: true}}}
	opts := haproxy.Options{Front: front, Balance: setup.balance, Dir: dir, Logf: logf}
	for i := range haReplicas {
		s := &slot{name: fmt.Sprintf("r%d", i+1)}
		var err error
		if s.listen, err = freeport.TCPAddr(); err != nil {
			return nil, err
		}
		if s.ops, err = freeport.TCPAddr(); err != nil {
			return nil, err
		}
		h.slots = append(h.slots, s)
		if err := h.restart(ctx, i); err != nil {
			h.stop()
			return nil, err
		}
		opts.Replicas = append(opts.Replicas, haproxy.Replica{Name: s.name, Listen: s.listen, Ops: s.ops})
	}
	p, err := haproxy.Start(ctx, opts)
	if err != nil {
		h.stop()
		return nil, err
	}
	h.proxy = p
	if err := h.waitServed(ctx, time.Minute); err != nil {
		h.stop()
		return nil, err
	}
	return h, nil
}

// restart starts a fresh transferd in slot i (its previous process must
// have ended) and waits until it listens for Asterisk (/readyz).
func (h *replicaSet) restart(ctx context.Context, i int) error {
	h.mu.Lock()
	s := h.slots[i]
	s.generation++
	spec := h.spec
	spec.logPath = filepath.Join(h.dir, fmt.Sprintf("%s-%s-%d.log", h.config, s.name, s.generation))
	h.mu.Unlock()
	spec.httpListen = s.ops
	spec.env = append(spec.env, "TRANSFERD_ARI_MODE=outbound", "TRANSFERD_ARI_LISTEN="+s.listen)
	d, err := startDaemon(ctx, h.sb, spec)
	if err != nil {
		return fmt.Errorf("replica %s: %w", s.name, err)
	}
	h.mu.Lock()
	s.d = d
	h.mu.Unlock()
	return nil
}

// kill SIGKILLs slot i's process and waits until it is gone.
func (h *replicaSet) kill(i int) {
	h.retire(i).kill()
}

// terminate SIGTERMs slot i's process (a rolling upgrade) and waits for
// it to exit, killing it after drainTimeout; graceful says whether it
// exited by itself.
func (h *replicaSet) terminate(i int) (graceful bool) {
	return h.retire(i).terminate(drainTimeout)
}

// retire takes slot i's process out of the slot, keeping it for its CPU
// time.
func (h *replicaSet) retire(i int) *daemon {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.slots[i]
	d := s.d
	s.d = nil
	s.retired = append(s.retired, d)
	return d
}

// scrapeAll reads every slot's /metrics; a slot whose process is down
// (killed, starting) has nil. Each page's count of ended transfers is
// kept with its process (perReplica).
func (h *replicaSet) scrapeAll(ctx context.Context) []Samples {
	pages := make([]Samples, len(h.slots))
	for i, s := range h.slots {
		h.mu.Lock()
		d := s.d
		h.mu.Unlock()
		pages[i], _ = scrape(ctx, h.poll, "http://"+s.ops+"/metrics")
		if d != nil && pages[i] != nil && h.perReplica {
			h.mu.Lock()
			// A counter only grows: a lower value is a successor's
			// first page on the same address.
			d.transfers = max(d.transfers, pages[i].Sum(transfersMetric))
			h.mu.Unlock()
		}
	}
	return pages
}

// transfersMetric counts the transfers a transferd process ended (every
// node, kind and outcome).
const transfersMetric = "transferd_transfers_total"

// serving finds the replica the first Asterisk (serves[0]) is connected to.
func (h *replicaSet) serving(ctx context.Context) (int, []Samples, error) {
	pages := h.scrapeAll(ctx)
	i, err := servedBy(pages, h.serves[0])
	return i, pages, err
}

// servedBy finds the replica whose page says s.
func servedBy(pages []Samples, s servingSeries) (int, error) {
	i, n := ServingReplica(pages, s)
	switch {
	case n == 0:
		return -1, fmt.Errorf("no replica reports %s 1", s)
	case n > 1:
		return -1, fmt.Errorf("%d replicas report %s 1 (Asterisk allows one connection per application)", n, s)
	}
	return i, nil
}

// waitServed waits until every Asterisk is connected to a replica.
func (h *replicaSet) waitServed(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		pages := h.scrapeAll(ctx)
		var err error
		for _, s := range h.serves {
			if _, err = servedBy(pages, s); err != nil {
				break
			}
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("asterisk not connected through haproxy within %s (logs in %s): %w", within, h.dir, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// cpu is the CPU time every replica process has used, the replaced ones
// included.
func (h *replicaSet) cpu() (time.Duration, error) {
	var total time.Duration
	for i := range h.slots {
		use, err := h.slotUse(i)
		if err != nil {
			return 0, err
		}
		total += use.cpu
	}
	return total, nil
}

// replicaUse is what the processes of one slot have used so far.
type replicaUse struct {
	cpu       time.Duration
	transfers float64 // ended, as last scraped (perReplica)
}

// slotUse adds up slot i's processes, the replaced ones included.
func (h *replicaSet) slotUse(i int) (replicaUse, error) {
	h.mu.Lock()
	s := h.slots[i]
	ds := append([]*daemon(nil), s.retired...)
	if s.d != nil {
		ds = append(ds, s.d)
	}
	var use replicaUse
	for _, d := range ds {
		use.transfers += d.transfers
	}
	h.mu.Unlock()
	for _, d := range ds {
		cpu, err := d.cpu()
		if err != nil {
			return use, err
		}
		use.cpu += cpu
	}
	return use, nil
}

// uses scrapes the replicas (for their transfer counts) and returns every
// slot's use.
func (h *replicaSet) uses(ctx context.Context) ([]replicaUse, error) {
	h.scrapeAll(ctx)
	uses := make([]replicaUse, len(h.slots))
	for i := range h.slots {
		var err error
		if uses[i], err = h.slotUse(i); err != nil {
			return nil, err
		}
	}
	return uses, nil
}

// stop stops HAProxy, then the replicas (SIGTERM), and keeps HAProxy's
// log beside the replicas' logs. (HAProxy first: Asterisk's reconnects
// then find nobody, instead of handing the calls' leftovers from replica
// to replica while each is stopped.)
func (h *replicaSet) stop() {
	if h.proxy != nil {
		if err := os.WriteFile(filepath.Join(h.dir, "haproxy.log"), []byte(h.proxy.Stop()), 0o644); err != nil {
			h.logf("haproxy log: %v", err)
		}
	}
	h.mu.Lock()
	var live []*daemon
	for _, s := range h.slots {
		if s.d != nil {
			live = append(live, s.d)
		}
	}
	h.mu.Unlock()
	for _, d := range live {
		d.stop()
	}
}
