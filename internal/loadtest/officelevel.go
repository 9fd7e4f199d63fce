package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transferd/transferd/internal/sandbox"
)

// officeOptions tune every level of the office mix.
type officeOptions struct {
	officeSettings
	star8ByREFER bool // the configuration's phones send *8<mailbox> as a REFER
	stepTimeout  time.Duration
	hear         time.Duration
	logf         func(string, ...any)
	perfDir      string // with -perf-asterisk: where the recordings go
}

// OfficeLevel is what one level of the office mix measured in one
// configuration.
type OfficeLevel struct {
	Config string
	Level  int // calls kept up at once

	// Over the steady window (see windowSample).
	Window                                time.Duration
	CallMinutes                           float64                  // the integral of answered calls over the window
	Answered                              int                      // calls answered in the window
	Transfers                             map[string]TransferCount // begun in the window, by kind
	AsteriskCPU, TransferdCPU, HarnessCPU time.Duration
	MachineBusy, MachineTotal             time.Duration  // all cores
	Bridges                               map[string]int // by technology, at mid-window
	BridgesErr                            string
	// AsteriskProfile: Asterisk's hottest functions over the window
	// (-perf-asterisk), one "share dso [.] function" per line.
	AsteriskProfile string

	// Over the whole level.
	Calls       int // calls that ended before the level did
	FailedCalls int // of them, calls with a failed step
	Glares      int // hold re-INVITEs answered 491 and retried
	FailedSteps map[string]int
	Failures    []string // the first few

	// Left in Asterisk after the level (must be 0).
	ChannelsLeft, BridgesLeft int

	// Err says why the level was not measured to the end.
	Err string
}

// TransferCount is how many transfers of a kind were tried and how many
// succeeded.
type TransferCount struct{ Tried, OK int }

// Failed reports whether anything in the level went wrong.
func (l OfficeLevel) Failed() bool {
	return l.FailedCalls > 0 || l.ChannelsLeft+l.BridgesLeft > 0 || l.Err != ""
}

// runOfficeLevel keeps n calls up on fresh phones, measures the steady
// window, then hangs up what is left and checks that Asterisk holds
// nothing.
func runOfficeLevel(ctx context.Context, t *target, n int, o officeOptions) (OfficeLevel, error) {
	res := OfficeLevel{Config: t.name, Level: n, Window: o.window, FailedSteps: map[string]int{}}
	quartets, phones, err := registerPhones(ctx, t.quartets(n))
	defer func() { closePhones(phones) }() // after an early return
	if err != nil {
		return res, err
	}
	callsCtx, stopCalls := context.WithCancel(ctx)
	defer stopCalls()
	var (
		log   callLog
		order atomic.Int64 // calls started so far: TransferKind's k
		wg    sync.WaitGroup
	)
	start := time.Now()
	// Slot i's first call starts i/n of a call duration after the
	// first: the calls' ends are spread as evenly as their starts, and
	// stay so, since each slot starts its next call when one ends.
	gap := o.callDuration / time.Duration(n)
	for i := range quartets {
		wg.Go(func() {
			quartets[i] = o.keepCalling(callsCtx, t.sb, quartets[i], start.Add(time.Duration(i)*gap), &order, &log)
		})
	}
	perfData := ""
	if o.perfDir != "" {
		perfData = filepath.Join(o.perfDir, fmt.Sprintf("%s-%d.perf.data", t.name, n))
	}
	w, err := t.measureWindow(ctx, start.Add(o.callDuration), o.window, perfData)
	stopCalls()
	wg.Wait()
	phones = phonesOf(quartets) // (renewed ones included)
	res.measured(w)
	tallyOffice(&res, log.outcomes(), w.from, w.to)
	if err != nil {
		return res, err
	}
	closePhones(phones)
	phones = nil
	res.ChannelsLeft, res.BridgesLeft, err = t.waitEmpty(ctx, 15*time.Second)
	if err != nil {
		return res, fmt.Errorf("count leftovers: %w", err)
	}
	return res, nil
}

// keepCalling keeps one call up on q's phones from first on until ctx
// ends: when a call ends, the next starts at once. After a failed call
// the slot replaces its phones with fresh ones (whatever the failure
// left, a stale ringing call say, goes with them) and carries on, so the
// level stays at n calls. It returns the slot's phones at the end.
func (o officeOptions) keepCalling(ctx context.Context, sb *sandbox.Sandbox, q quartet, first time.Time, order *atomic.Int64, log *callLog) quartet {
	if !sleepUntil(ctx, first) {
		return q
	}
	for ctx.Err() == nil {
		k := int(order.Add(1) - 1)
		c := &officeCall{
			scenario: scenario{q: q, stepTimeout: o.stepTimeout, hear: o.hear},
			kind:     TransferKind(k, o.share, o.kinds), duration: o.callDuration,
			star8ByREFER: o.star8ByREFER, inbox: sb.VoicemailInbox,
		}
		out := c.run(ctx)
		log.add(out)
		if out.step == "" || out.interrupted {
			continue
		}
		var err error
		if q, err = renewQuartet(ctx, q); err != nil {
			if ctx.Err() == nil {
				o.logf("slot %s-%s stops: %v", q.extA, q.extD, err)
			}
			return q
		}
	}
	return q
}

// callLog collects the outcomes of a level's calls from every slot.
type callLog struct {
	mu   sync.Mutex
	outs []officeOutcome
}

func (l *callLog) add(o officeOutcome) {
	l.mu.Lock()
	l.outs = append(l.outs, o)
	l.mu.Unlock()
}

func (l *callLog) outcomes() []officeOutcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.outs)
}

// windowSample is what the steady window measured: CPU counters at its
// ends and the bridges at its middle.
type windowSample struct {
	from, to      time.Time
	before, after usage
	busy, total   time.Duration // all cores, over the window
	bridges       map[string]int
	bridgesErr    error
	profile       string // perfTop's lines, or why there are none
}

// measureWindow waits until from, then measures for length. The CLI
// command at mid-window costs Asterisk a few milliseconds. With perfData,
// perf samples Asterisk over the window into that file (sampling costs
// Asterisk a little CPU: profile in a run of its own).
func (t *target) measureWindow(ctx context.Context, from time.Time, length time.Duration, perfData string) (windowSample, error) {
	var w windowSample
	if !sleepUntil(ctx, from) {
		return w, ctx.Err()
	}
	busy0, total0, err := MachineCPU()
	if err != nil {
		return w, err
	}
	if w.before, err = t.usage(ctx); err != nil {
		return w, err
	}
	w.from = time.Now()
	var rec *perfRecording
	if perfData != "" {
		if rec, err = startPerf(ctx, t.sb.PID(), perfData, length); err != nil {
			w.profile = err.Error()
		}
	}
	if !sleepUntil(ctx, w.from.Add(length/2)) {
		return w, ctx.Err()
	}
	out, err := t.sb.CLI(ctx, "bridge show all")
	if err != nil {
		w.bridgesErr = fmt.Errorf("%w: %s", err, strings.TrimSpace(out))
	} else {
		w.bridges = ParseBridgeTechnologies(out)
	}
	if !sleepUntil(ctx, w.from.Add(length)) {
		return w, ctx.Err()
	}
	if w.after, err = t.usage(ctx); err != nil {
		return w, err
	}
	busy1, total1, err := MachineCPU()
	if err != nil {
		return w, err
	}
	w.to = time.Now()
	w.busy, w.total = busy1-busy0, total1-total0
	if rec != nil {
		if err := rec.wait(); err != nil {
			w.profile = err.Error()
		} else if w.profile, err = perfTop(ctx, perfData); err != nil {
			w.profile = err.Error()
		}
	}
	return w, nil
}

// measured copies a complete window's figures into l.
func (l *OfficeLevel) measured(w windowSample) {
	if w.to.IsZero() {
		return // the window did not end: its counters mean nothing
	}
	l.Window = w.to.Sub(w.from)
	l.AsteriskCPU = w.after.asteriskCPU - w.before.asteriskCPU
	l.TransferdCPU = w.after.transferdCPU - w.before.transferdCPU
	l.HarnessCPU = w.after.harnessCPU - w.before.harnessCPU
	l.MachineBusy, l.MachineTotal = w.busy, w.total
	l.Bridges = w.bridges
	l.AsteriskProfile = w.profile
	if w.bridgesErr != nil {
		l.BridgesErr = w.bridgesErr.Error()
	}
}

// tallyOffice adds the level's calls to l: call-minutes, answers and
// transfers within the window [from, to], failures over the whole level.
// A transfer counts in the window it began in; one the level's end
// interrupted is not counted.
func tallyOffice(l *OfficeLevel, outs []officeOutcome, from, to time.Time) {
	var spans []Span
	l.Transfers = map[string]TransferCount{}
	for _, o := range outs {
		l.Glares += o.glares
		if !o.answered.IsZero() {
			spans = append(spans, Span{Start: o.answered, End: o.ended})
		}
		if o.kind != "" && (o.transferOK || o.transferFailed) && !o.transferAt.Before(from) && o.transferAt.Before(to) {
			c := l.Transfers[o.kind]
			c.Tried++
			if o.transferOK {
				c.OK++
			}
			l.Transfers[o.kind] = c
		}
		if o.interrupted {
			continue
		}
		l.Calls++
		if o.step == "" {
			continue
		}
		l.FailedCalls++
		l.FailedSteps[o.step]++
		if len(l.Failures) < 5 {
			// errors.Join separates with newlines; one failure, one line.
			msg := strings.ReplaceAll(o.err.Error(), "\n", "; ")
			l.Failures = append(l.Failures, "(step began "+o.at.Format("15:04:05.000")+") "+o.step+": "+msg)
		}
	}
	if !to.IsZero() {
		l.CallMinutes = CallMinutes(spans, from, to)
		l.Answered = AnsweredIn(spans, from, to)
	}
}

// sleepUntil waits until t; false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
