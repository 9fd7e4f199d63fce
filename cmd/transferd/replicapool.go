package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/transferd/transferd/ari"
)

// poolReplica is one transferd child process of a pool, in outbound mode.
// Its addresses stay the same across restarts: HAProxy's configuration
// names them.
type poolReplica struct {
	name string
	// listen is where it accepts Asterisk's outbound websocket (ari.listen);
	// ops is its operator endpoint (http.listen).
	listen, ops string
}

// pool keeps transferd replicas running as child processes of this one:
// one dies, it is started again, so the pool stays at its size. It watches
// which replica serves Asterisk (transferd_ari_connected 1) and reports a
// takeover with how long it came after the death it followed.
//
// Its state (pids, who serves, the last death) belongs to run's goroutine;
// the goroutines that start and wait for the processes tell it what
// happened as messages.
type pool struct {
	exe      string
	args     []string
	env      []string // each replica adds its listeners
	replicas []poolReplica
	// out gets what a newcomer should read (who serves, the pids, a
	// takeover); logs gets the replicas' own logs, a line prefix each.
	out, logs io.Writer
	http      *http.Client
	// kills asks run to SIGKILL the serving replica (the demo does); the
	// answer comes once another replica serves.
	kills chan chan takeover
}

// takeover is what a kill request learns: who died, who serves now, and
// how long after the death.
type takeover struct {
	killed, serving string
	after           time.Duration
	err             error
}

// killServing SIGKILLs the replica that serves Asterisk and waits until
// another one does.
func (p *pool) killServing(ctx context.Context) (takeover, error) {
	answer := make(chan takeover, 1)
	select {
	case p.kills <- answer:
	case <-ctx.Done():
		return takeover{}, ctx.Err()
	}
	select {
	case t := <-answer:
		return t, t.err
	case <-ctx.Done():
		return takeover{}, ctx.Err()
	}
}

// replicaEvent is what a replica's keeper tells the pool's owner.
type replicaEvent struct {
	replica int
	pid     int
	// exited: the process ended (err says how), at at; else it started.
	exited bool
	err    error
	at     time.Time
}

// A replica that lived at least minLifetime is started again at once (it
// was killed: Asterisk needs it back). One that lived less cannot start (a
// port taken, a bad configuration): it is started again after restartDelay,
// doubling up to maxRestartDelay with jitter (ari.NewBackOff) while it keeps
// failing, so a crash loop neither spins nor floods the log.
const (
	restartDelay    = 2 * time.Second
	maxRestartDelay = 30 * time.Second
	minLifetime     = 3 * time.Second
)

// Polling intervals of the replicas' /metrics: fast while nobody serves
// Asterisk or just after a death, so a takeover's delay is measured to
// within a few milliseconds (an adoption takes tens); slowly otherwise.
const (
	pollFast    = 5 * time.Millisecond
	pollSlow    = 250 * time.Millisecond
	fastAfter   = 10 * time.Second
	pollTimeout = 300 * time.Millisecond
)

// poolStarted is the pool's first report: every replica's pid, and which
// one serves Asterisk.
type poolStarted struct {
	pids    []int
	serving int
}

// run starts every replica and keeps them running until ctx ends; then it
// stops them with SIGTERM (calls stay in Asterisk) and returns once all
// are gone. started (buffered) gets one message, once every replica has
// started and one of them serves Asterisk; later changes are written to
// p.out.
func (p *pool) run(ctx context.Context, started chan<- poolStarted) {
	events := make(chan replicaEvent)
	var wg sync.WaitGroup
	for i := range p.replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.keep(ctx, i, events)
		}()
	}
	go func() { wg.Wait(); close(events) }()

	pids := make([]int, len(p.replicas))
	serving, announced := -1, false
	// The serving replica's death, until another one serves.
	deadReplica, deadAt := -1, time.Time{}
	// A kill request waiting for the takeover: who asked, whom and when
	// it killed. (Its own clock: the poll may see the successor before
	// the keeper reports the death.)
	var asked chan takeover
	askedKilled, askedAt := -1, time.Time{}
	lastChange := time.Now()
	for {
		interval := pollSlow
		if serving < 0 || time.Since(lastChange) < fastAfter {
			interval = pollFast
		}
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			if ctx.Err() != nil {
				continue // stopping: a SIGTERMed replica is no death to report
			}
			r := p.replicas[ev.replica]
			switch {
			case !ev.exited && pids[ev.replica] == 0:
				pids[ev.replica] = ev.pid
			case !ev.exited:
				pids[ev.replica] = ev.pid
				fmt.Fprintf(p.out, "replicas: replica %s started again: pid %d (the pool is back to %d)\n", r.name, ev.pid, len(p.replicas))
			default:
				fmt.Fprintf(p.out, "replicas: replica %s (pid %d) died: %v; starting it again\n", r.name, ev.pid, ev.err)
				if ev.replica == serving {
					deadReplica, deadAt = ev.replica, ev.at
					serving = -1
					lastChange = time.Now()
				}
			}
		case answer := <-p.kills:
			if serving < 0 || asked != nil {
				answer <- takeover{err: fmt.Errorf("no replica serves Asterisk now, or a takeover is under way")}
				continue
			}
			r := p.replicas[serving]
			if err := syscall.Kill(pids[serving], syscall.SIGKILL); err != nil {
				answer <- takeover{err: fmt.Errorf("kill -9 %d (replica %s): %w", pids[serving], r.name, err)}
				continue
			}
			asked, askedKilled, askedAt = answer, serving, time.Now()
		case <-time.After(interval):
			// Only another replica's connection is a change: a serving
			// replica that misses a poll has not lost Asterisk (its
			// death is reported by its keeper).
			now := p.serving(ctx)
			if now < 0 || now == serving {
				continue
			}
			if !announced {
				if slices.Contains(pids, 0) {
					continue // a replica has not started yet
				}
				announced, serving = true, now
				started <- poolStarted{pids: slices.Clone(pids), serving: now}
				continue
			}
			serving, lastChange = now, time.Now()
			r := p.replicas[now]
			if asked != nil && now != askedKilled {
				asked <- takeover{killed: p.replicas[askedKilled].name, serving: r.name, after: time.Since(askedAt)}
				asked = nil
			}
			if deadReplica >= 0 {
				fmt.Fprintf(p.out, "replicas: takeover: replica %s serves Asterisk now, %s after replica %s died (kill -9 %d to see another)\n",
					r.name, time.Since(deadAt).Round(time.Millisecond), p.replicas[deadReplica].name, pids[now])
				deadReplica = -1
			} else {
				fmt.Fprintf(p.out, "replicas: replica %s serves Asterisk now (kill -9 %d to see a takeover)\n", r.name, pids[now])
			}
		}
	}
}

// keep runs replica i until ctx ends, starting it again whenever it dies.
func (p *pool) keep(ctx context.Context, i int, events chan<- replicaEvent) {
	restarts := ari.NewBackOff(restartDelay, maxRestartDelay)
	for ctx.Err() == nil {
		began := time.Now()
		p.runOnce(ctx, i, events)
		if time.Since(began) >= minLifetime {
			restarts.Reset()
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(restarts.NextBackOff()):
		}
	}
}

// runOnce starts replica i and waits for it to exit.
//
// The child gets SIGKILL when this process dies, even by SIGKILL
// (Pdeathsig): a replica left behind would keep serving Asterisk. Linux
// sends that signal when the *thread* that started the child exits, and Go
// ends a thread when a goroutine locked to it returns: so this goroutine
// stays locked to its thread from the start to the end of the wait.
func (p *pool) runOnce(ctx context.Context, i int, events chan<- replicaEvent) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := p.replicas[i]
	cmd := exec.CommandContext(ctx, p.exe, p.args...)
	cmd.Env = append(append([]string(nil), p.env...),
		"TRANSFERD_ARI_MODE=outbound", "TRANSFERD_ARI_LISTEN="+r.listen, "TRANSFERD_HTTP_LISTEN="+r.ops)
	logs := &linePrefixer{w: p.logs, prefix: "replica " + r.name + " | "}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// Stopping is SIGTERM: the replica turns unready and leaves its calls
	// in Asterisk; SIGKILL if it has not gone within 10 s.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		send(ctx, events, replicaEvent{replica: i, exited: true, err: fmt.Errorf("start %s: %w", p.exe, err), at: time.Now()})
		return
	}
	send(ctx, events, replicaEvent{replica: i, pid: cmd.Process.Pid})
	err := cmd.Wait()
	logs.flush()
	if err == nil {
		err = fmt.Errorf("exited with status 0")
	}
	send(ctx, events, replicaEvent{replica: i, pid: cmd.Process.Pid, exited: true, err: err, at: time.Now()})
}

// send hands ev to the pool's owner unless the pool is stopping.
func send(ctx context.Context, events chan<- replicaEvent, ev replicaEvent) {
	select {
	case events <- ev:
	case <-ctx.Done():
	}
}

// serving returns the index of the replica Asterisk is connected to, -1
// when none says so.
func (p *pool) serving(ctx context.Context) int {
	for i, r := range p.replicas {
		if v, ok := gauge(ctx, p.http, r.ops, "transferd_ari_connected"); ok && v == 1 {
			return i
		}
	}
	return -1
}

// gauge reads an unlabelled metric from the transferd whose operator
// endpoints are at ops.
func gauge(ctx context.Context, client *http.Client, ops, name string) (float64, bool) {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ops+"/metrics", nil)
	if err != nil {
		return 0, false
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, false
	}
	return metricValue(string(body), name)
}

// metricValue finds "name value" in Prometheus' text format.
func metricValue(body, name string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// linePrefixer writes whole lines to w, each after prefix, so the
// replicas' logs can share one stderr and still say whose they are.
type linePrefixer struct {
	w      io.Writer
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (l *linePrefixer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		nl := strings.IndexByte(string(l.buf), '\n')
		if nl < 0 {
			return len(b), nil
		}
		if _, err := io.WriteString(l.w, l.prefix+string(l.buf[:nl+1])); err != nil {
			return len(b), err
		}
		l.buf = l.buf[nl+1:]
	}
}

// flush writes a last line without its newline.
func (l *linePrefixer) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		io.WriteString(l.w, l.prefix+string(l.buf)+"\n")
		l.buf = nil
	}
}
