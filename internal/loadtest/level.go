package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/transferd/transferd/internal/sandbox"
	"github.com/transferd/transferd/internal/sipphone"
)

// firstExt is the first extension of the load phones: four digits leave
// the sandbox's three-digit demo phones alone (dialplan pattern _1XXX).
const firstExt = 1000

// maxLevel keeps every extension within 1000-1999.
const maxLevel = 250

// extensions lists the four phones of every scenario of the largest level;
// each level uses the first 4×level of them.
func extensions(maxConcurrent int) []string {
	exts := make([]string, 0, 4*maxConcurrent)
	for i := range 4 * maxConcurrent {
		exts = append(exts, strconv.Itoa(firstExt+i))
	}
	return exts
}

// LevelResult is what one load level of one configuration measured.
type LevelResult struct {
	Config    string
	Level     int // concurrent scenarios
	Scenarios int
	Succeeded int

	BlindTried, BlindOK       int
	AttendedTried, AttendedOK int
	Blind, Attended           Latencies

	Wall time.Duration // first scenario start to last scenario end

	AsteriskCPU  time.Duration
	TransferdCPU time.Duration // 0 for native
	// HarnessCPU is this process's: the SIP phones' signalling and RTP
	// compete with Asterisk and transferd for the same cores.
	HarnessCPU time.Duration

	// Transferd's RSS at the sample with the most active calls, and its
	// live heap at the post-GC sample with the most, each minus its idle
	// value before the level (0 for native).
	PeakActiveCalls int
	RSSDelta        int64
	HeapActiveCalls int
	HeapDelta       int64

	// Left in Asterisk after the level (must be 0).
	ChannelsLeft, BridgesLeft int

	// Glares counts hold re-INVITEs answered 491 (and retried).
	Glares int
	// QueueWarnings counts Asterisk's warnings that the ARI application's
	// event queue passed its high-water mark (events wait for transferd).
	QueueWarnings int

	// Err says why the level could not be measured to the end (Asterisk
	// died, ...); Kernel holds the kernel's lines about Asterisk then.
	Err    string
	Kernel []string
	// Console is the end of Asterisk's stdout/stderr then (glibc's
	// "corrupted double-linked list" abort lands there, not in its log).
	Console []string

	// FailedSteps counts failures by step; Failures keeps the first few.
	FailedSteps map[string]int
	Failures    []string
	// FailedAt: when each failed scenario's failing step began.
	FailedAt []time.Time

	// Faults: the replicas killed or upgraded during the level (nil for
	// configurations without replicas and for runs without faults).
	Faults *FaultResult

	// Split: transferd-nodes' scenarios that stay on their node and those
	// whose transfers cross to the other node (nil otherwise).
	Split *NodeSplit
	// Replicas: each replica's use during the level (transferd-nodes).
	Replicas []ReplicaResult
}

// Transfers returns transfers attempted and succeeded.
func (r LevelResult) Transfers() (tried, ok int) {
	return r.BlindTried + r.AttendedTried, r.BlindOK + r.AttendedOK
}

// Failed reports whether anything in the level went wrong.
func (r LevelResult) Failed() bool {
	return r.Succeeded < r.Scenarios || r.ChannelsLeft+r.BridgesLeft > 0 || r.Err != ""
}

// levelOptions tune every level.
type levelOptions struct {
	stepTimeout time.Duration
	hear        time.Duration
	rampUp      time.Duration // scenarios start spread over this
	// repeatFor: each quartet runs its scenario again and again until
	// this long after the level started (a soak), or until one fails.
	repeatFor time.Duration
	// renew, when set, replaces a quartet whose scenario failed with
	// fresh phones, and the quartet carries on: in a run with faults, so
	// the load stays at the level through every kill and every failure
	// is counted.
	renew  func(context.Context, quartet) (quartet, error)
	faults faultPlan // the configurations with replicas only
	logf   func(string, ...any)
}

// runLevel registers fresh phones (new SIP and RTP sockets, so late
// retransmissions to a previous level's phones hit nothing) and runs n
// scenarios at once.
func runLevel(ctx context.Context, t *target, n int, opts levelOptions) (LevelResult, error) {
	res := LevelResult{Config: t.name, Level: n, Scenarios: n, FailedSteps: map[string]int{}}
	quartets, phones, err := registerPhones(ctx, t.quartets(n))
	defer func() { closePhones(phones) }() // after an early return
	if err != nil {
		return res, err
	}
	before, err := t.usage(ctx)
	if err != nil {
		return res, err
	}
	var idle Idle
	if t.td != nil {
		if idle, err = t.idle(ctx, time.Minute, 0); err != nil {
			return res, err
		}
	}
	warningsBefore := t.queueWarnings()
	kernelBefore := readKernelLog(ctx)
	sampler := t.sampleDaemon(ctx)
	if t.ha != nil && opts.faults.every() > 0 {
		opts.renew = renewQuartet
	}
	start := time.Now()
	faults := t.startFaults(ctx, opts.faults, start.Add(opts.repeatFor), opts.logf)
	outcomes := runScenarios(ctx, quartets, opts)
	res.Wall = time.Since(start)
	res.Faults = faults.finish()
	phones = phonesOf(quartets) // (renewed ones included)
	res.Scenarios = len(outcomes)
	tally(&res, outcomes)
	if t.nodes != nil {
		res.Split = splitByPlace(outcomes)
	}
	res.QueueWarnings = t.queueWarnings() - warningsBefore
	after, err := t.usage(ctx)
	peak := sampler.stop()
	if err != nil {
		res.Err = err.Error()
		if t.sb.PID() == 0 {
			// A segfault line names the crashing thread, not the process:
			// take every Asterisk line the kernel logged during the level.
			res.Kernel = KernelLines(strings.TrimPrefix(readKernelLog(ctx), kernelBefore), "asterisk[")
			res.Console = t.consoleTail(3)
		}
		return res, err
	}
	res.AsteriskCPU = after.asteriskCPU - before.asteriskCPU
	res.TransferdCPU = after.transferdCPU - before.transferdCPU
	res.HarnessCPU = after.harnessCPU - before.harnessCPU
	res.PeakActiveCalls, res.RSSDelta = peak.active, peak.rss-idle.RSS
	res.HeapActiveCalls, res.HeapDelta = peak.heapActive, peak.heap-idle.HeapAlloc
	if t.ha != nil && t.ha.perReplica {
		res.Replicas = t.ha.results(ctx, before.replicas, after.replicas)
	}

	closePhones(phones)
	phones = nil
	res.ChannelsLeft, res.BridgesLeft, err = t.waitEmpty(ctx, 15*time.Second)
	if err != nil {
		return res, fmt.Errorf("count leftovers: %w", err)
	}
	return res, nil
}

// tally adds the scenarios' outcomes to res.
func tally(res *LevelResult, outcomes []outcome) {
	var blind, attended []time.Duration
	for _, o := range outcomes {
		res.Glares += o.glares
		if o.blindTried {
			res.BlindTried++
		}
		if o.blind > 0 {
			res.BlindOK++
			blind = append(blind, o.blind)
		}
		if o.attendedTried {
			res.AttendedTried++
		}
		if o.attended > 0 {
			res.AttendedOK++
			attended = append(attended, o.attended)
		}
		if o.step == "" {
			res.Succeeded++
			continue
		}
		res.FailedSteps[o.step]++
		res.FailedAt = append(res.FailedAt, o.at)
		if len(res.Failures) < 5 {
			// errors.Join separates with newlines; one failure, one line.
			msg := strings.ReplaceAll(o.err.Error(), "\n", "; ")
			res.Failures = append(res.Failures, "(step began "+o.at.Format("15:04:05.000")+") "+o.step+": "+msg)
		}
	}
	res.Blind, res.Attended = Summarize(blind), Summarize(attended)
}

// runScenarios starts the scenarios spread evenly over the ramp-up (a
// hundred INVITEs in the same millisecond measure the UDP receive buffer,
// not the PBX) and waits for all of them.
func runScenarios(ctx context.Context, quartets []quartet, opts levelOptions) []outcome {
	perQuartet := make([][]outcome, len(quartets))
	gap := opts.rampUp / time.Duration(len(quartets))
	until := time.Now().Add(opts.repeatFor)
	var wg sync.WaitGroup
	for i, q := range quartets {
		s := &scenario{q: q, stepTimeout: opts.stepTimeout, hear: opts.hear}
		wg.Go(func() {
			defer func() { quartets[i] = s.q }()
			for {
				out := s.run(ctx)
				perQuartet[i] = append(perQuartet[i], out)
				if ctx.Err() != nil || time.Now().After(until) {
					return
				}
				if out.step == "" {
					continue
				}
				if opts.renew == nil {
					return
				}
				var err error
				if s.q, err = opts.renew(ctx, s.q); err != nil {
					opts.logf("quartet %s-%s stops: %v", s.q.extA, s.q.extD, err)
					return
				}
			}
		})
		select {
		case <-time.After(gap):
		case <-ctx.Done():
		}
	}
	wg.Wait()
	var outcomes []outcome
	for _, outs := range perQuartet {
		outcomes = append(outcomes, outs...)
	}
	return outcomes
}

// quartets lays out n scenarios (phones not registered yet): four
// consecutive extensions each on the one Asterisk, or, for
// transferd-nodes, n on each node (nodeQuartets).
func (t *target) quartets(n int) []quartet {
	if t.nodes != nil {
		return nodeQuartets(t.nodes, n)
	}
	exts := extensions(n)
	quartets := make([]quartet, n)
	for i := range quartets {
		quartets[i] = quartet{extA: exts[4*i], extB: exts[4*i+1], extC: exts[4*i+2], extD: exts[4*i+3],
			on: [4]*sandbox.Sandbox{t.sb, t.sb, t.sb, t.sb}}
	}
	return quartets
}

// registerPhones creates and registers the phones of the quartets laid
// out (4 each), a few at a time.
func registerPhones(ctx context.Context, layout []quartet) ([]quartet, []*sipphone.Phone, error) {
	tones := []float64{toneA, toneB, toneC, toneD}
	phones := make([]*sipphone.Phone, 4*len(layout))
	errs := make([]error, len(phones))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range phones {
		q := layout[i/4]
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			phones[i], errs[i] = newPhone(ctx, q.on[i%4], q.exts()[i%4], tones[i%4])
		})
	}
	wg.Wait()
	var live []*sipphone.Phone
	for _, p := range phones {
		if p != nil {
			live = append(live, p)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, live, fmt.Errorf("register phones: %w", err)
	}
	quartets := slices.Clone(layout)
	for i := range quartets {
		quartets[i].a, quartets[i].b, quartets[i].c, quartets[i].d = phones[4*i], phones[4*i+1], phones[4*i+2], phones[4*i+3]
	}
	return quartets, live, nil
}

// renewPause lets Asterisk end what a failed scenario's phones left
// (their BYEs, its own timers) before fresh phones register.
const renewPause = 2 * time.Second

// renewQuartet closes q's phones (hanging up whatever a failed scenario
// left) and registers four fresh ones on the same extensions. On error
// the returned quartet has no phones (those made are closed).
func renewQuartet(ctx context.Context, q quartet) (quartet, error) {
	closePhones(phonesOf([]quartet{q}))
	fresh := quartet{extA: q.extA, extB: q.extB, extC: q.extC, extD: q.extD, on: q.on, cross: q.cross}
	select {
	case <-time.After(renewPause):
	case <-ctx.Done():
		return fresh, ctx.Err()
	}
	phones := make([]*sipphone.Phone, 4)
	for i, ext := range q.exts() {
		p, err := newPhone(ctx, q.on[i], ext, []float64{toneA, toneB, toneC, toneD}[i])
		if err != nil {
			closePhones(phones[:i])
			return fresh, fmt.Errorf("renew phone %s: %w", ext, err)
		}
		phones[i] = p
	}
	fresh.a, fresh.b, fresh.c, fresh.d = phones[0], phones[1], phones[2], phones[3]
	return fresh, nil
}

// phonesOf lists the quartets' phones (a renewal that failed left none).
func phonesOf(quartets []quartet) []*sipphone.Phone {
	var phones []*sipphone.Phone
	for _, q := range quartets {
		for _, p := range []*sipphone.Phone{q.a, q.b, q.c, q.d} {
			if p != nil {
				phones = append(phones, p)
			}
		}
	}
	return phones
}

func newPhone(ctx context.Context, sb *sandbox.Sandbox, ext string, tone float64) (*sipphone.Phone, error) {
	p, err := sipphone.New(ctx, sipphone.Config{Ext: ext, Password: sb.PhonePassword(ext), Server: sb.SIPAddr, ToneHz: tone,
		InfoDTMF: sb.InfoDTMF(ext)})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.Register(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// closePhones hangs up whatever is left and unregisters, in parallel.
func closePhones(phones []*sipphone.Phone) {
	var wg sync.WaitGroup
	for _, p := range phones {
		wg.Go(func() { p.Close() })
	}
	wg.Wait()
}

// usage is the CPU time the processes have used so far.
type usage struct {
	asteriskCPU, transferdCPU, harnessCPU time.Duration
	replicas                              []replicaUse // perReplica only
}

func (t *target) usage(ctx context.Context) (usage, error) {
	var u usage
	var err error
	for _, sb := range t.asterisks() {
		pid := sb.PID()
		if pid == 0 {
			return u, fmt.Errorf("asterisk is not running any more (it exited or crashed; see %s/log and the kernel log)", sb.Dir)
		}
		cpu, err := ProcessCPU(pid)
		if err != nil {
			return u, err
		}
		u.asteriskCPU += cpu
	}
	if u.harnessCPU, err = ProcessCPU(os.Getpid()); err != nil {
		return u, err
	}
	switch {
	case t.ha != nil && t.ha.perReplica:
		if u.replicas, err = t.ha.uses(ctx); err == nil {
			u.transferdCPU, err = t.ha.cpu()
		}
	case t.ha != nil:
		u.transferdCPU, err = t.ha.cpu()
	case t.td != nil:
		u.transferdCPU, err = ProcessCPU(t.td.pid())
	}
	return u, err
}

// peakSample is transferd's memory at the most active calls seen.
type peakSample struct {
	active int
	rss    int64 // at the sample with the most calls
	// heapActive calls at the post-GC sample with the most calls, and its
	// live heap: heap in use between collections is mostly garbage, so
	// only a sample just after a GC says what the calls keep alive.
	heapActive int
	heap       int64
}

type sampler struct {
	cancel context.CancelFunc
	done   chan peakSample
}

// sampleDaemon scrapes transferd's metrics once a second until stopped
// and keeps the peaks. (Scraping costs transferd CPU, which the harness
// counts against it: five times a second was about 5 % of it.)
func (t *target) sampleDaemon(ctx context.Context) *sampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &sampler{cancel: cancel, done: make(chan peakSample, 1)}
	go func() {
		var peak peakSample
		defer func() { s.done <- peak }()
		perReplica := t.ha != nil && t.ha.perReplica
		if t.td == nil && !perReplica {
			return
		}
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var lastGC float64
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if perReplica {
				// Each replica's ended transfers, as late as possible
				// before a kill ends its count.
				t.ha.scrapeAll(ctx)
				continue
			}
			m, err := scrape(ctx, t.http, t.td.metricsURL)
			if err != nil {
				continue // a missed sample only coarsens the peak
			}
			peak = peak.add(m, lastGC)
			lastGC = m.Sum("go_memstats_last_gc_time_seconds")
		}
	}()
	return s
}

// add folds a scrape into the peaks; lastGC is the GC time of the
// previous scrape.
func (p peakSample) add(m Samples, lastGC float64) peakSample {
	active := int(m.Sum("transferd_active_calls"))
	if active > p.active {
		p.active, p.rss = active, int64(m.Sum("process_resident_memory_bytes"))
	}
	if gc := m.Sum("go_memstats_last_gc_time_seconds"); lastGC > 0 && gc > lastGC && active > p.heapActive {
		p.heapActive, p.heap = active, int64(m.Sum("go_memstats_heap_alloc_bytes"))
	}
	return p
}

func (s *sampler) stop() peakSample {
	s.cancel()
	return <-s.done
}
