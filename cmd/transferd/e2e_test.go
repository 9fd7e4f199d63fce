package main

// End-to-end tests: a real Asterisk 22 (internal/sandbox), the real daemon
// (serve, in-process) and SIP test phones that behave like desk phones.
// Each test asserts what the people on the call would notice, and the
// sandbox fails the test if Asterisk holds a channel or bridge afterwards.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/transferd/transferd/ari"
	"github.com/transferd/transferd/internal/freeport"
	"github.com/transferd/transferd/internal/sandbox"
	"github.com/transferd/transferd/internal/sipphone"
)

type bed struct {
	t      *testing.T
	ctx    context.Context
	sb     *sandbox.Sandbox
	phones map[string]*sipphone.Phone
	ops    string // base URL of transferd's /metrics, /healthz, /readyz

	cfg        Config
	stopDaemon func()
	// logged holds what the in-process transferd logged at warn level
	// and above.
	logged *observer.ObservedLogs
	// emptyChecked: replicas' tests checked that Asterisk holds nothing
	// (nothingLeft), before the first replica stops.
	emptyChecked sync.Once
}

// TestMain lets a test run transferd as a real process: the test binary
// re-executed with TRANSFERD_E2E_RUN_MAIN=1 is transferd's main, with the
// hooks TRANSFERD_E2E_DIE_AT asks for (e2eHooks).
func TestMain(m *testing.M) {
	if os.Getenv("TRANSFERD_E2E_RUN_MAIN") == "1" {
		mainWith(e2eHooks(os.Getenv("TRANSFERD_E2E_DIE_AT")))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// e2eHooks are the hooks of a transferd process a test runs: with dieAt
// "refer", the process SIGKILLs itself as soon as its stream reads a
// phone's REFER (a ChannelTransfer that is no echo of a progress report),
// before the engine sees it: the window where a REFER is read and not yet
// recorded on the transferer's channel, hit every time.
func e2eHooks(dieAt string) hooks {
	switch dieAt {
	case "":
		return hooks{}
	case "refer":
		return hooks{onEvent: func(ev ari.Event) {
			if ct, ok := ev.(*ari.ChannelTransfer); ok && ct.State == "" {
				fmt.Fprintf(os.Stderr, "e2e: SIGKILLing myself after reading the REFER of %s\n", ct.ReferredBy.SourceChannel.ID)
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // (the signal is on its way)
			}
		}}
	}
	fmt.Fprintf(os.Stderr, "e2e: TRANSFERD_E2E_DIE_AT=%q: want \"refer\"\n", dieAt)
	os.Exit(2)
	return hooks{}
}

// startProcess runs transferd as a separate process against the bed's
// Asterisk (replacing the in-process one) and returns a function that
// kills it with SIGKILL, as a crash or an OOM killer would.
func (b *bed) startProcess() (kill func()) {
	b.t.Helper()
	b.stopDaemon()
	waitAppGone(b.ctx, b.t, b.sb, "transferd")
	kill = b.spawn("transferd", "TRANSFERD_HTTP_LISTEN="+b.cfg.HTTP.Listen)
	waitAppRegistered(b.ctx, b.t, b.sb, "transferd")
	return kill
}

// spawn runs a transferd process with the bed's settings and env's (later
// ones win) and returns a function that kills it with SIGKILL; its log is
// the test's once it is gone.
func (b *bed) spawn(name string, env ...string) (kill func()) {
	return b.spawnProcess(name, env...).kill
}

// process is a transferd the test started.
type process struct {
	name string
	cmd  *exec.Cmd
	logs *strings.Builder
	once sync.Once
	t    *testing.T
	// exited is closed once the process has exited (waitErr its exit).
	exited  chan struct{}
	waitErr error
}

// kill stops it with SIGKILL (a crash).
func (p *process) kill() { p.end(syscall.SIGKILL) }

// stop stops it with SIGTERM (an upgrade) and returns its exit error and
// its log.
func (p *process) stop() (error, string) { return p.end(syscall.SIGTERM), p.logs.String() }

func (p *process) end(sig syscall.Signal) (err error) {
	p.once.Do(func() {
		p.cmd.Process.Signal(sig)
		<-p.exited
		err = p.waitErr
		p.t.Logf("%s process (%s):\n%s", p.name, sig, p.logs.String())
	})
	return err
}

// died waits until the process has exited by itself (a hook killed it).
func (p *process) died(within time.Duration) {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(within):
		p.t.Fatalf("%s process still runs %s later", p.name, within)
	}
}

func (b *bed) spawnProcess(name string, env ...string) *process {
	b.t.Helper()
	cmd := exec.Command(os.Args[0], "--log-level", "debug", "--log-format", "console")
	cmd.Env = append(os.Environ(), "TRANSFERD_E2E_RUN_MAIN=1",
		"TRANSFERD_ARI_URL="+b.sb.ARIURL, "TRANSFERD_ARI_USERNAME="+b.sb.ARIUser, "TRANSFERD_ARI_PASSWORD="+b.sb.ARIPassword,
		"TRANSFERD_CALLS_ANSWER_TIMEOUT="+b.cfg.Calls.AnswerTimeout.String(),
		"TRANSFERD_TRANSFER_CORE_EXTENSIONS="+b.cfg.Transfer.CoreExtensions, "TRANSFERD_TRANSFER_HANDLING="+b.cfg.Transfer.Handling)
	cmd.Env = append(cmd.Env, env...)
	p := &process{name: name, cmd: cmd, logs: &strings.Builder{}, t: b.t, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	go func() {
		defer close(p.exited)
		p.waitErr = cmd.Wait()
	}()
	b.t.Cleanup(p.kill)
	return p
}

// startDaemon runs transferd (serve, in-process) until the returned stop.
// Stopping leaves calls in Asterisk, as killing transferd would.
func (b *bed) startDaemon() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := b.cfg
	observed, logged := observer.New(zapcore.WarnLevel)
	b.logged = logged
	log := zaptest.NewLogger(b.t, zaptest.WrapOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, observed) })))
	go func() { done <- serve(ctx, &cfg, log) }()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				b.t.Errorf("transferd: %v", err)
			}
		})
	}
}

// newBed starts a sandbox whose phones call through transferd, runs
// transferd against it with cfg's call settings, and registers phones.
func newBed(t *testing.T, tweak func(*Config), exts ...string) *bed {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping tests that run a real Asterisk")
	}
	t.Parallel()
	// (A tweak that chooses outbound mode decides how Asterisk is set up:
	// it connects to transferd's listener.)
	var probe Config
	if tweak != nil {
		tweak(&probe)
	}
	opts := sandbox.Options{PhoneContext: "transferd"}
	// Phones transferd is told send DTMF as SIP INFO are set up so.
	var infoRE *regexp.Regexp
	if probe.Voicemail.InfoDTMFExtensions != "" {
		infoRE = regexp.MustCompile(probe.Voicemail.InfoDTMFExtensions)
	}
	infoDTMF := func(ext string) bool { return infoRE != nil && infoRE.MatchString(ext) }
	for _, ext := range exts {
		if infoDTMF(ext) {
			opts.InfoDTMF = append(opts.InfoDTMF, ext)
		}
	}
	listen := ""
	if probe.ARI.Mode == "outbound" {
		listen = freeAddr(t)
		opts.Outbound = "ws://" + listen + "/ari"
		if probe.ARI.ListenCertFile != "" {
			// (Self-signed: the certificate is its own CA.)
			ca, err := os.ReadFile(probe.ARI.ListenCertFile)
			if err != nil {
				t.Fatal(err)
			}
			opts.Outbound, opts.OutboundCA = "wss://"+listen+"/ari", string(ca)
		}
	}
	sb := sandbox.Start(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)

	var cfg Config
	cfg.ARI.URL, cfg.ARI.Username, cfg.ARI.Password, cfg.ARI.App = sb.ARIURL, sb.ARIUser, sb.ARIPassword, "transferd"
	cfg.ARI.Listen = listen
	cfg.Log.Level, cfg.Log.Format = "debug", "console"
	cfg.Calls.AnswerTimeout = 6 * time.Second
	cfg.HTTP.Listen = freeAddr(t)
	if tweak != nil {
		tweak(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	b := &bed{t: t, ctx: ctx, sb: sb, phones: map[string]*sipphone.Phone{}, ops: "http://" + cfg.HTTP.Listen, cfg: cfg}
	b.stopDaemon = b.startDaemon()
	t.Cleanup(func() {
		if cfg.ARI.Mode == "outbound" {
			// The phones have hung up; transferd ends their calls. In
			// outbound mode the application outlives transferd's
			// connection, and so would a bridge of a call still ending
			// (a successor would clean it up; a test has none).
			wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			b.sb.WaitEmpty(wctx, 5*time.Second)
			cancel()
		}
		b.stopDaemon()
	})
	if cfg.ARI.Mode == "outbound" {
		// The app is registered in Asterisk from its start; ready means
		// Asterisk has connected and calls in progress are adopted.
		b.waitReady()
	} else {
		waitAppRegistered(ctx, t, sb, cfg.ARI.App)
	}

	for _, ext := range exts {
		p, err := sipphone.New(ctx, sipphone.Config{Ext: ext, Password: sb.PhonePassword(ext), Server: sb.SIPAddr, Logf: t.Logf,
			InfoDTMF: infoDTMF(ext)})
		if err != nil {
			t.Fatalf("phone %s: %v", ext, err)
		}
		// Registered after the daemon's cleanup, so it runs first: phones
		// hang up before transferd stops and the sandbox checks leftovers.
		t.Cleanup(func() { p.Close() })
		if err := p.Register(ctx); err != nil {
			t.Fatalf("phone %s registers: %v", ext, err)
		}
		b.phones[ext] = p
	}
	return b
}

// The transfer modes every transfer test runs in: Asterisk hands REFERs to
// transferd (ari-only, the default), or performs them itself and transferd
// follows (core, the fallback; see transfer/native.go).
var transferModes = []string{"ari-only", "core"}

// inEachMode runs test once per transfer mode, as subtests.
func inEachMode(t *testing.T, test func(t *testing.T, mode string)) {
	for _, mode := range transferModes {
		t.Run(mode, func(t *testing.T) { test(t, mode) })
	}
}

// inMode returns a config tweak putting every phone in mode, then applying
// more (if any).
func inMode(mode string, more func(*Config)) func(*Config) {
	return func(c *Config) {
		// Forced, not auto: the suite runs ari-only against every
		// Asterisk it is given, 22.10.1 included (auto would choose core
		// there; TestAutoHandlingFollowsTheAsteriskVersion covers auto).
		c.Transfer.Handling = "ari-only"
		if mode == "core" {
			c.Transfer.CoreExtensions = "."
		}
		if more != nil {
			more(c)
		}
	}
}

// freeAddr returns a loopback address with a port free right now, outside
// the kernel's ephemeral range: a port picked with ":0" and released could
// be taken by any outgoing connection before transferd binds it.
func freeAddr(t *testing.T) string {
	addr, err := freeport.TCPAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func waitAppRegistered(ctx context.Context, t *testing.T, sb *sandbox.Sandbox, app string) {
	t.Helper()
	if err := waitForApp(ctx, sb, app); err != nil {
		t.Fatal(err)
	}
}

// waitReady waits until the bed's transferd answers /readyz with 200: its
// event stream is connected, so Asterisk's app is its own, and the calls
// in progress are adopted. After a SIGKILL, waitAppRegistered is not
// enough: the killed transferd's app stays registered, deactivated, while
// it has calls, until the successor takes it over.
func (b *bed) waitReady() { b.waitReadyAt(b.cfg.HTTP.Listen) }

// waitReadyAt waits until the transferd whose operator endpoints are at
// ops (host:port) answers /readyz with 200.
func (b *bed) waitReadyAt(ops string) {
	b.t.Helper()
	var last string
	for {
		req, _ := http.NewRequestWithContext(b.ctx, http.MethodGet, "http://"+ops+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error() // (not listening yet)
		}
		select {
		case <-b.ctx.Done():
			b.t.Fatalf("transferd at %s not ready: /readyz: %s", ops, last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitAppGone waits until Asterisk no longer has app, which had no
// channels. A transferd that stopped has closed its event WebSocket, but
// Asterisk drops the app a moment later: until then, waiting for a
// successor's app would find the old one, and a call placed then finds no
// app at all (seen in CI: "Stasis app 'transferd' doesn't exist", the
// caller heard all-circuits-busy). (An app that still has channels stays
// in Asterisk, deactivated, until they leave.)
func waitAppGone(ctx context.Context, t *testing.T, sb *sandbox.Sandbox, app string) {
	t.Helper()
	for appStatus(ctx, sb, app) != http.StatusNotFound {
		select {
		case <-ctx.Done():
			t.Fatalf("Asterisk still has app %q after transferd stopped: %v", app, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// call has from dial to and to answer; it returns both ends.
func (b *bed) call(from, to string) (caller, callee *sipphone.Call) {
	b.t.Helper()
	in := b.ring(from, to)
	callee = in.incoming
	if err := callee.Answer(b.ctx); err != nil {
		b.t.Fatalf("%s answers: %v", to, err)
	}
	caller = in.wait()
	return caller, callee
}

type ringing struct {
	t        *testing.T
	incoming *sipphone.Call
	result   chan dialResult
}

type dialResult struct {
	call *sipphone.Call
	err  error
}

func (r ringing) wait() *sipphone.Call {
	r.t.Helper()
	res := <-r.result
	if res.err != nil {
		r.t.Fatalf("call not answered: %v", res.err)
	}
	return res.call
}

// ring has from dial to and waits until to's phone rings.
func (b *bed) ring(from, to string) ringing {
	b.t.Helper()
	result := b.dial(from, to)
	in, err := b.phones[to].WaitIncoming(b.ctx)
	if err != nil {
		b.t.Fatalf("%s does not ring: %v", to, err)
	}
	return ringing{t: b.t, incoming: in, result: result}
}

func (b *bed) dial(from, to string) chan dialResult {
	result := make(chan dialResult, 1)
	go func() {
		c, err := b.phones[from].Dial(b.ctx, to)
		result <- dialResult{c, err}
	}()
	return result
}

func (b *bed) tone(ext string) float64 { return b.phones[ext].ToneHz() }

// hears waits until who's call carries ext's voice for a second.
func (b *bed) hears(who string, c *sipphone.Call, ext string) {
	b.t.Helper()
	if err := c.WaitHearing(b.ctx, b.tone(ext), time.Second); err != nil {
		b.t.Fatalf("%s does not hear %s: %v (last second: %+v)", who, ext, err, c.Heard(time.Second))
	}
}

// talkThenHangUp checks that two phones hear each other, then that when
// the first hangs up the second's call ends: the tail of most tests.
func (b *bed) talkThenHangUp(firstExt string, first *sipphone.Call, secondExt string, second *sipphone.Call) {
	b.t.Helper()
	b.hears(firstExt, first, secondExt)
	b.hears(secondExt, second, firstExt)
	first.Hangup(b.ctx)
	if err := second.WaitEnded(b.ctx); err != nil {
		b.t.Fatalf("%s's call does not end after %s hung up: %v", secondExt, firstExt, err)
	}
}

// hearsMusic waits until who hears a second of sound that is nobody's voice.
func (b *bed) hearsMusic(who string, c *sipphone.Call) {
	b.t.Helper()
	if err := c.WaitMusic(b.ctx, time.Second); err != nil {
		b.t.Fatalf("%s does not hear music/ringback: %v (last second: %+v)", who, err, c.Heard(time.Second))
	}
}

// hearsRingback checks that who hears ringing while a transfer's target
// rings: a second of sound that starts after the hold music it heard
// before (hearsMusic alone passed on that music's last second).
func (b *bed) hearsRingback(who string, c *sipphone.Call) {
	b.t.Helper()
	time.Sleep(1200 * time.Millisecond)
	b.hearsMusic(who, c)
}

// waitVoicemail waits for a message in ext's voicemail INBOX.
func (b *bed) waitVoicemail(ext string) {
	b.t.Helper()
	inbox := b.sb.VoicemailInbox(ext)
	for {
		if files, _ := filepath.Glob(filepath.Join(inbox, "msg*.txt")); len(files) > 0 {
			data, _ := os.ReadFile(files[0])
			b.t.Logf("voicemail for %s: %s", ext, data)
			return
		}
		select {
		case <-b.ctx.Done():
			b.t.Fatalf("no voicemail message appeared in %s", inbox)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func TestBasicCallAudioBothWaysThenHangup(t *testing.T) {
	b := newBed(t, nil, "101", "102")
	a, c := b.call("101", "102")
	if peer, err := c.WaitPeer(b.ctx, "101"); err != nil {
		t.Errorf("102's display: %v", err)
	} else if !strings.Contains(peer, "Phone 101") {
		t.Errorf("102's display shows %s, want the caller's name Phone 101", peer)
	}
	b.hears("101", a, "102")
	b.hears("102", c, "101")
	if err := c.Hangup(b.ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.WaitEnded(b.ctx); err != nil {
		t.Fatalf("101's call does not end when 102 hangs up: %v", err)
	}
}

func TestHoldGivesTheOtherPartyMusicUntilResumed(t *testing.T) {
	b := newBed(t, nil, "101", "102")
	a, c := b.call("101", "102")
	b.hears("102", c, "101")
	if err := c.Hold(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.hearsMusic("101 (held)", a)
	if err := c.Unhold(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.talkThenHangUp("101", a, "102", c)
}

func TestCallToBusyExtensionGivesBusy(t *testing.T) {
	b := newBed(t, nil, "101", "102")
	result := b.dial("101", "102")
	in, err := b.phones["102"].WaitIncoming(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	in.Reject(b.ctx, 486)
	res := <-result
	if sipphone.StatusCode(res.err) != 486 {
		t.Fatalf("101 gets %v, want 486 Busy Here", res.err)
	}
}

func TestCallToMissingExtensionIsNotInService(t *testing.T) {
	b := newBed(t, nil, "101")
	res := <-b.dial("101", "199")
	if code := sipphone.StatusCode(res.err); code != 404 {
		t.Fatalf("101 gets %v (status %d), want 404 Not Found", res.err, code)
	}
}

func TestUnansweredCallGoesToVoicemail(t *testing.T) {
	b := newBed(t, func(c *Config) { c.Calls.AnswerTimeout = 2 * time.Second }, "101", "102")
	result := b.dial("101", "102")
	in, err := b.phones["102"].WaitIncoming(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := (<-result)
	if a.err != nil {
		t.Fatalf("101 is not answered by voicemail: %v", a.err)
	}
	if err := in.WaitEnded(b.ctx); err != nil {
		t.Fatalf("102 keeps ringing after the timeout: %v", err)
	}
	b.hearsMusic("101 (voicemail greeting)", a.call)
	time.Sleep(14 * time.Second) // greeting, beep, then a few seconds of message
	a.call.Hangup(b.ctx)
	b.waitVoicemail("102")
}

// told waits for the final NOTIFY of tr and checks its status.
func (b *bed) told(tr *sipphone.Transfer, want int) {
	b.t.Helper()
	if code, err := tr.WaitFinal(b.ctx); err != nil || code != want {
		b.t.Fatalf("the transferer's phone is told %d (%v), want %d", code, err, want)
	}
}

// toldThenHangsUp checks a transfer's success as the transferer's phone
// sees it: NOTIFY 200, then the phone ends the call itself at once (as
// linphonec and baresip do, 0–2 ms later). transferd leaves that to the
// phone: its own BYE on the same dialog at the same time was BYE glare.
// Asterisk's own handling (core) may end the leg itself: Asterisk's
// choice, logged.
func (b *bed) toldThenHangsUp(tr *sipphone.Transfer, c *sipphone.Call) {
	b.t.Helper()
	b.told(tr, 200)
	b.hangsUpAfterTransfer(c)
}

// hangsUpAfterTransfer: the transferer's phone, told its transfer
// worked, ends its call (toldThenHangsUp).
func (b *bed) hangsUpAfterTransfer(c *sipphone.Call) {
	b.t.Helper()
	if err := c.Hangup(b.ctx); err != nil {
		b.t.Errorf("the transferer's BYE after the transfer: %v", err)
	}
	by := c.EndedBy()
	if b.cfg.Transfer.CoreExtensions == "." {
		b.t.Logf("core handling: the transferer's call ended by %s", by)
		return
	}
	if by != "local BYE" {
		b.t.Errorf("the transferer's call ended by %s while its phone was about to hang up (BYE glare)", by)
	}
}

// rings waits until ext's phone rings and returns the incoming call.
func (b *bed) rings(ext string) *sipphone.Call {
	b.t.Helper()
	in, err := b.phones[ext].WaitIncoming(b.ctx)
	if err != nil {
		b.t.Fatalf("%s does not ring: %v", ext, err)
	}
	return in
}

// blindTransfer: 101 calls 102; 102 presses Tran (hold), dials dest, Tran.
func (b *bed) blindTransfer(dest string) (a, c *sipphone.Call, tr *sipphone.Transfer) {
	b.t.Helper()
	a, c = b.call("101", "102")
	b.hears("101", a, "102")
	return a, c, b.blindTransferOn(a, c, dest)
}

// blindTransferOn has 102 (c) hold 101 (a) on a call in progress and send
// a blind REFER to dest.
func (b *bed) blindTransferOn(a, c *sipphone.Call, dest string) *sipphone.Transfer {
	b.t.Helper()
	if err := c.Hold(b.ctx); err != nil {
		b.t.Fatal(err)
	}
	b.hearsMusic("101 (held)", a)
	tr, err := c.BlindTransfer(b.ctx, dest)
	if err != nil {
		b.t.Fatalf("102 REFER to %s: %v", dest, err)
	}
	return tr
}

// toldThenRings checks a blind transfer's acceptance as the transferer's
// phone sees it (NOTIFY 200, then it hangs up) and returns the target
// ringing.
func (b *bed) toldThenRings(tr *sipphone.Transfer, c *sipphone.Call, dest string) *sipphone.Call {
	b.t.Helper()
	b.toldThenHangsUp(tr, c)
	return b.rings(dest)
}

// toldSoon checks that a REFER transferd found pending (a successor's
// probe, or its own after a reconnect) is reported 200 within 10 s of
// sent (its 202), not the bed's minutes.
func (b *bed) toldSoon(tr *sipphone.Transfer, sent time.Time) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if code, err := tr.WaitFinal(ctx); err != nil || code != 200 {
		b.t.Fatalf("102's phone is told %d (%v) about the REFER transferd found pending, want 200", code, err)
	}
	b.t.Logf("102's phone told 200 %s after its REFER's 202", time.Since(sent).Round(time.Millisecond))
}

// pendingBlindReferCarriedOut checks what users notice of 102's blind
// REFER to 103 that transferd found pending: 102 is told (toldSoon) and
// hangs up, 103 rings while 101 hears ringback, and once 103 answers, 101
// and 103 talk.
func (b *bed) pendingBlindReferCarriedOut(tr *sipphone.Transfer, sent time.Time, a, c *sipphone.Call) {
	b.t.Helper()
	b.toldSoon(tr, sent)
	b.hangsUpAfterTransfer(c)
	in := b.rings("103")
	b.hearsRingback("101 (while 103 rings)", a)
	if err := in.Answer(b.ctx); err != nil {
		b.t.Fatal(err)
	}
	b.talkThenHangUp("101", a, "103", in)
}

// rungBack checks what a phone user sees when a blind transfer Asterisk
// accepted itself (core handling) cannot be carried out: the transferer's
// phone is told it worked and hangs up, then rings again with the caller.
func (b *bed) rungBack(a, c *sipphone.Call, tr *sipphone.Transfer) {
	b.t.Helper()
	b.toldThenHangsUp(tr, c)
	back := b.rings("102")
	b.hearsRingback("101 (ringback during the recall)", a)
	if err := back.Answer(b.ctx); err != nil {
		b.t.Fatal(err)
	}
	b.hears("101", a, "102")
	b.hears("102", back, "101")
	a.Hangup(b.ctx)
	if err := back.WaitEnded(b.ctx); err != nil {
		b.t.Fatal(err)
	}
}

func TestBlindTransferAnsweredCallerTalksToTarget(t *testing.T) {
	inEachMode(t, testBlindTransferAnsweredCallerTalksToTarget)
}

func testBlindTransferAnsweredCallerTalksToTarget(t *testing.T, mode string) {
	blindTransferAnsweredCallerTalksToTarget(t, inMode(mode, nil))
}

// blindTransferAnsweredCallerTalksToTarget: 102 blind-transfers 101 to
// 103, who answers; both displays, ringback and audio are checked. tweak
// sets the bed up (transfer mode, ARI mode).
func blindTransferAnsweredCallerTalksToTarget(t *testing.T, tweak func(*Config)) {
	b := newBed(t, tweak, "101", "102", "103")
	a, c, tr := b.blindTransfer("103")
	b.toldThenHangsUp(tr, c)
	in, err := b.phones["103"].WaitIncoming(b.ctx)
	if err != nil {
		t.Fatalf("103 does not ring: %v", err)
	}
	if peer, err := in.WaitPeer(b.ctx, "101"); err != nil {
		t.Errorf("103's display while ringing: %v", err)
	} else {
		t.Logf("103 sees %s calling", peer)
	}
	b.hearsRingback("101 (ringback while 103 rings)", a)
	if err := in.Answer(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.displays("101", a, "103")
	b.talkThenHangUp("101", a, "103", in)
}

// displays checks that who's phone shows number as the party it talks to
// (connected line: P-Asserted-Identity in a re-INVITE or UPDATE).
func (b *bed) displays(who string, c *sipphone.Call, number string) {
	b.t.Helper()
	peer, err := c.WaitPeer(b.ctx, number)
	if err != nil {
		b.t.Fatalf("%s's display is not updated to %s: %v", who, number, err)
	}
	b.t.Logf("%s displays %s", who, peer)
}

func TestBlindTransferToRefusedOrUnknownDestinationKeepsTheCall(t *testing.T) {
	inEachMode(t, testBlindTransferToRefusedOrUnknownDestinationKeepsTheCall)
}

func testBlindTransferToRefusedOrUnknownDestinationKeepsTheCall(t *testing.T, mode string) {
	for _, tt := range []struct {
		name, dest string
		wantCode   int
	}{
		{"refused premium number", "0900123456", 603},
		{"unknown extension", "199", 503},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newBed(t, inMode(mode, nil), "101", "102")
			a, c, tr := b.blindTransfer(tt.dest)
			if mode == "core" {
				b.rungBack(a, c, tr)
				return
			}
			if code, err := tr.WaitFinal(b.ctx); err != nil || code != tt.wantCode {
				t.Fatalf("102's phone is told %d (%v), want %d", code, err, tt.wantCode)
			}
			// The phone shows the failure; the user resumes the caller.
			if err := c.Unhold(b.ctx); err != nil {
				t.Fatal(err)
			}
			b.talkThenHangUp("101", a, "102", c)
		})
	}
}

func TestBlindTransferToBusyOrUnansweredTargetGoesToItsVoicemail(t *testing.T) {
	inEachMode(t, testBlindTransferToBusyOrUnansweredTargetGoesToItsVoicemail)
}

func testBlindTransferToBusyOrUnansweredTargetGoesToItsVoicemail(t *testing.T, mode string) {
	for _, busy := range []bool{true, false} {
		name := "unanswered"
		if busy {
			name = "busy"
		}
		t.Run(name, func(t *testing.T) {
			b := newBed(t, inMode(mode, func(c *Config) { c.Calls.AnswerTimeout = 2 * time.Second }), "101", "102", "103")
			a, c, tr := b.blindTransfer("103")
			in := b.toldThenRings(tr, c, "103")
			if busy {
				in.Reject(b.ctx, 486)
			} else if err := in.WaitEnded(b.ctx); err != nil {
				t.Fatalf("103 keeps ringing: %v", err)
			}
			b.hearsMusic("101 (103's voicemail greeting)", a)
			time.Sleep(14 * time.Second) // greeting, beep, a few seconds of message
			a.Hangup(b.ctx)
			b.waitVoicemail("103")
		})
	}
}

func TestBlindTransferRecallRingsTheTransfererBack(t *testing.T) {
	inEachMode(t, testBlindTransferRecallRingsTheTransfererBack)
}

func testBlindTransferRecallRingsTheTransfererBack(t *testing.T, mode string) {
	b := newBed(t, inMode(mode, func(c *Config) {
		c.Calls.AnswerTimeout = 2 * time.Second
		c.Transfer.NoAnswer = "recall"
	}), "101", "102", "103")
	a, c, tr := b.blindTransfer("103")
	in := b.toldThenRings(tr, c, "103")
	in.Reject(b.ctx, 486)
	back, err := b.phones["102"].WaitIncoming(b.ctx)
	if err != nil {
		t.Fatalf("102 is not rung back: %v", err)
	}
	if err := back.Answer(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.talkThenHangUp("102", back, "101", a)
}

func TestBlindTransferCallerHangsUpWhileTargetRings(t *testing.T) {
	inEachMode(t, testBlindTransferCallerHangsUpWhileTargetRings)
}

func testBlindTransferCallerHangsUpWhileTargetRings(t *testing.T, mode string) {
	b := newBed(t, inMode(mode, nil), "101", "102", "103")
	a, c, tr := b.blindTransfer("103")
	in := b.toldThenRings(tr, c, "103")
	a.Hangup(b.ctx)
	if err := in.WaitEnded(b.ctx); err != nil {
		t.Fatalf("103 keeps ringing after the caller hung up: %v", err)
	}
}

// consult: 101 calls 102; 102 presses Tran (101 held, hears music) and
// calls 103. With answer, 103 answers and 102 and 103 hear each other.
func (b *bed) consult(answer bool) (a, first, second *sipphone.Call, colleague *ringing) {
	b.t.Helper()
	return b.consultWith("103", answer)
}

// consultWith is consult with the colleague at ext.
func (b *bed) consultWith(ext string, answer bool) (a, first, second *sipphone.Call, colleague *ringing) {
	b.t.Helper()
	a, first = b.call("101", "102")
	b.hears("101", a, "102")
	if err := first.Hold(b.ctx); err != nil {
		b.t.Fatal(err)
	}
	b.hearsMusic("101 (held)", a)
	r := b.ring("102", ext)
	if !answer {
		return a, first, nil, &r
	}
	if err := r.incoming.Answer(b.ctx); err != nil {
		b.t.Fatal(err)
	}
	second = r.wait()
	b.hears("102", second, ext)
	b.hears(ext, r.incoming, "102")
	return a, first, second, &r
}

func TestAttendedTransferCompletedCallerTalksToColleague(t *testing.T) {
	inEachMode(t, testAttendedTransferCompletedCallerTalksToColleague)
}

func testAttendedTransferCompletedCallerTalksToColleague(t *testing.T, mode string) {
	attendedTransferCompletedCallerTalksToColleague(t, inMode(mode, nil))
}

// attendedTransferCompletedCallerTalksToColleague: 102 consults 103 and
// completes; 101 and 103 talk and see each other. tweak sets the bed up.
func attendedTransferCompletedCallerTalksToColleague(t *testing.T, tweak func(*Config)) {
	b := newBed(t, tweak, "101", "102", "103")
	b.completeAttended("103")
}

// completeAttended: 102 consults the colleague at ext and completes; 101
// and the colleague talk and see each other.
func (b *bed) completeAttended(ext string) {
	b.t.Helper()
	t := b.t
	a, first, second, colleague := b.consultWith(ext, true)
	tr, err := first.AttendedTransfer(b.ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	// A desk phone hangs up its held call once told the transfer
	// worked; Asterisk ends the consultation call.
	b.toldThenHangsUp(tr, first)
	if err := second.WaitEnded(b.ctx); err != nil {
		t.Fatalf("102's consultation call is not hung up after the transfer: %v", err)
	}
	c := colleague.incoming
	b.hears("101", a, ext)
	b.hears(ext, c, "101")
	b.displays("101", a, ext)
	if peer, err := c.WaitPeer(b.ctx, "101"); err != nil {
		t.Fatalf("%s's display is not updated to the caller: %v", ext, err)
	} else {
		t.Logf("%s displays %s", ext, peer)
	}
	a.Hangup(b.ctx)
	if err := c.WaitEnded(b.ctx); err != nil {
		t.Fatal(err)
	}
}

func TestAttendedTransferCompletedWhileColleagueRings(t *testing.T) {
	inEachMode(t, testAttendedTransferCompletedWhileColleagueRings)
}

func testAttendedTransferCompletedWhileColleagueRings(t *testing.T, mode string) {
	if mode == "core" {
		// The hand-over itself works (see the log), but Asterisk 22.10.1
		// then sends the caller no RTP at all, neither the ringback or
		// music transferd starts nor, later, the voicemail greeting
		// (measured: zero packets; pjsip logger shows no SIP to the caller).
		t.Skip("core handling: after Asterisk's own attended transfer to a still-ringing consultation the caller hears silence (README: fallback mode)")
	}
	b := newBed(t, inMode(mode, nil), "101", "102", "103")
	a, first := b.call("101", "102")
	b.hears("101", a, "102")
	if err := first.Hold(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.hearsMusic("101 (held)", a)
	// 102 calls 103 and presses Tran while it still rings: the phone
	// REFERs the held call, naming the early consultation dialog.
	second, outcome, err := b.phones["102"].DialEarly(b.ctx, "103")
	if err != nil {
		t.Fatal(err)
	}
	in := b.rings("103")
	tr, err := first.AttendedTransfer(b.ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	b.toldThenHangsUp(tr, first)
	// The consultation call ends the way a completed transfer's call
	// does (connected, then BYE), not as if 103 had declined it (603).
	if err := <-outcome; err != nil {
		t.Errorf("102's consultation call ends with %v, want it connected and then hung up by Asterisk", err)
	}
	if err := second.WaitEnded(b.ctx); err != nil {
		t.Fatalf("102's consultation call is not hung up after the transfer: %v", err)
	}
	b.hearsRingback("101 (ringback while 103 rings)", a)
	if err := in.Answer(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.displays("101", a, "103")
	b.talkThenHangUp("101", a, "103", in)
}

func TestAttendedTransferResume(t *testing.T) { inEachMode(t, testAttendedTransferResume) }

func testAttendedTransferResume(t *testing.T, mode string) {
	for _, how := range []string{"transferer hangs up", "colleague hangs up", "colleague rejects"} {
		t.Run(how, func(t *testing.T) {
			b := newBed(t, inMode(mode, nil), "101", "102", "103")
			answer := how != "colleague rejects"
			a, first, second, colleague := b.consult(answer)
			switch how {
			case "transferer hangs up":
				second.Hangup(b.ctx)
			case "colleague hangs up":
				colleague.incoming.Hangup(b.ctx)
				if err := second.WaitEnded(b.ctx); err != nil {
					t.Fatalf("102's consultation does not end: %v", err)
				}
			case "colleague rejects":
				colleague.incoming.Reject(b.ctx, 486)
				if res := <-colleague.result; sipphone.StatusCode(res.err) != 486 {
					t.Fatalf("102's consultation call gets %v, want 486", res.err)
				}
			}
			b.hearsMusic("101 (still held)", a)
			if err := first.Unhold(b.ctx); err != nil {
				t.Fatal(err)
			}
			b.talkThenHangUp("101", a, "102", first)
		})
	}
}

func TestAttendedTransferTransfererHangsUp(t *testing.T) {
	inEachMode(t, testAttendedTransferTransfererHangsUp)
}

func testAttendedTransferTransfererHangsUp(t *testing.T, mode string) {
	for _, mode := range []string{"complete", "recall"} {
		t.Run(mode, func(t *testing.T) {
			b := newBed(t, inMode(mode, func(c *Config) { c.Transfer.TransfererHangup = mode }), "101", "102", "103")
			a, first, second, colleague := b.consult(true)
			first.Hangup(b.ctx) // hangs up the held call, not pressing Tran
			if mode == "complete" {
				if err := second.WaitEnded(b.ctx); err != nil {
					t.Fatalf("102's consultation leg is not hung up: %v", err)
				}
				b.talkThenHangUp("101", a, "103", colleague.incoming)
				return
			}
			if err := colleague.incoming.WaitEnded(b.ctx); err != nil {
				t.Fatalf("103's consultation is not ended: %v", err)
			}
			second.WaitEnded(b.ctx)
			back, err := b.phones["102"].WaitIncoming(b.ctx)
			if err != nil {
				t.Fatalf("102 is not rung back: %v", err)
			}
			b.hearsRingback("101 (ringback during the recall)", a)
			back.Answer(b.ctx)
			b.talkThenHangUp("102", back, "101", a)
		})
	}
}

func TestAttendedTransferCallerHangsUpWhileHeld(t *testing.T) {
	inEachMode(t, testAttendedTransferCallerHangsUpWhileHeld)
}

func testAttendedTransferCallerHangsUpWhileHeld(t *testing.T, mode string) {
	b := newBed(t, inMode(mode, nil), "101", "102", "103")
	a, first, second, colleague := b.consult(true)
	a.Hangup(b.ctx)
	if err := first.WaitEnded(b.ctx); err != nil {
		t.Fatalf("102's held call does not end: %v", err)
	}
	b.hears("102", second, "103")
	b.hears("103", colleague.incoming, "102")
	// 102 presses Tran anyway: its phone REFERs the consultation, naming
	// the ended call. It must fail and change nothing.
	tr, err := second.AttendedTransfer(b.ctx, first)
	if err == nil {
		code, werr := tr.WaitFinal(b.ctx)
		if werr != nil || code < 300 {
			t.Fatalf("102's phone is told %d (%v), want a failure", code, werr)
		}
	} else if sipphone.StatusCode(err) < 400 {
		t.Fatalf("REFER: %v", err)
	}
	b.talkThenHangUp("102", second, "103", colleague.incoming)
}

func TestAttendedTransferReplacingAnotherPhonesCallIsRefused(t *testing.T) {
	inEachMode(t, testAttendedTransferReplacingAnotherPhonesCallIsRefused)
}

func testAttendedTransferReplacingAnotherPhonesCallIsRefused(t *testing.T, mode string) {
	if mode == "core" {
		t.Skip("core handling: Asterisk itself replaces any dialog a REFER names, before transferd can refuse (README: fallback mode)")
	}
	b := newBed(t, inMode(mode, nil), "101", "102", "103", "104")
	a, first := b.call("101", "102")
	b.hears("101", a, "102")
	if err := first.Hold(b.ctx); err != nil {
		t.Fatal(err)
	}
	// Meanwhile 104 talks to 103: a call of another phone.
	d, e := b.call("104", "103")
	b.hears("104", d, "103")
	// 102's REFER names 104's dialog: transferd must refuse it.
	tr, err := first.AttendedTransfer(b.ctx, d)
	if err == nil {
		code, werr := tr.WaitFinal(b.ctx)
		if werr != nil || code < 300 {
			t.Fatalf("102's phone is told %d (%v), want a failure", code, werr)
		}
	} else if sipphone.StatusCode(err) < 400 {
		t.Fatalf("REFER: %v", err)
	}
	b.hears("104", d, "103")
	b.hears("103", e, "104")
	b.hearsMusic("101 (still held)", a)
	if err := first.Unhold(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.hears("101", a, "102")
	a.Hangup(b.ctx)
	d.Hangup(b.ctx)
	first.WaitEnded(b.ctx)
	e.WaitEnded(b.ctx)
}

// voicemailMessages returns the "duration=" of each message in ext's INBOX.
func (b *bed) voicemailMessages(ext string) []int {
	b.t.Helper()
	files, _ := filepath.Glob(filepath.Join(b.sb.VoicemailInbox(ext), "msg*.txt"))
	var out []int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "duration="); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				out = append(out, n)
			}
		}
	}
	return out
}

// keysDuringCall: 101 calls 102, they hear each other, and 102 keys code
// (the voicemail code and a mailbox, or its start) during the call; 101
// is held, hearing music.
func (b *bed) keysDuringCall(code string) (a, c *sipphone.Call) {
	b.t.Helper()
	a, c = b.call("101", "102")
	b.hears("101", a, "102")
	if err := c.SendDTMF(b.ctx, code); err != nil {
		b.t.Fatal(err)
	}
	b.hearsMusic("101 (held while 102 keys the mailbox)", a)
	return a, c
}

// leavesMessage: a caller in ext's voicemail hears the greeting, speaks for
// about speak after the beep and hangs up; one message of about that
// length appears.
func (b *bed) leavesMessage(caller *sipphone.Call, ext string, speak time.Duration) {
	b.t.Helper()
	b.hearsMusic("101 ("+ext+"'s voicemail greeting)", caller)
	// The greeting ("the person at extension ... is unavailable", then
	// instructions and a beep) lasts about 11 s; speak after it.
	time.Sleep(12 * time.Second)
	time.Sleep(speak)
	caller.Hangup(b.ctx)
	b.waitVoicemail(ext)
	msgs := b.voicemailMessages(ext)
	if len(msgs) != 1 {
		b.t.Fatalf("%d messages for %s, want 1", len(msgs), ext)
	}
	want := int(speak.Seconds())
	if got := msgs[0]; got < want-2 || got > want+2 {
		b.t.Errorf("message for %s lasts %d s, want about %d s", ext, got, want)
	}
}

func TestVoicemailTransferByDTMF(t *testing.T) { inEachMode(t, testVoicemailTransferByDTMF) }

func testVoicemailTransferByDTMF(t *testing.T, mode string) {
	b := newBed(t, inMode(mode, nil), "101", "102", "103")
	a, c := b.keysDuringCall("*8103")
	c.Hangup(b.ctx)
	b.leavesMessage(a, "103", 4*time.Second)
	if msgs := b.voicemailMessages("102"); len(msgs) != 0 {
		t.Errorf("102 has %d messages, want none", len(msgs))
	}
}

func TestVoicemailTransferByREFER(t *testing.T) { inEachMode(t, testVoicemailTransferByREFER) }

func testVoicemailTransferByREFER(t *testing.T, mode string) {
	b := newBed(t, inMode(mode, nil), "101", "102", "103")
	a, c, tr := b.blindTransfer("*8103")
	b.toldThenHangsUp(tr, c)
	b.leavesMessage(a, "103", 4*time.Second)
	if msgs := b.voicemailMessages("102"); len(msgs) != 0 {
		t.Errorf("102 has %d messages, want none", len(msgs))
	}
}

func TestVoicemailTransferToInvalidMailbox(t *testing.T) {
	inEachMode(t, testVoicemailTransferToInvalidMailbox)
}

func testVoicemailTransferToInvalidMailbox(t *testing.T, mode string) {
	t.Run("user on the line hears it and the call resumes", func(t *testing.T) {
		b := newBed(t, inMode(mode, nil), "101", "102")
		a, c := b.call("101", "102")
		if err := c.SendDTMF(b.ctx, "*8199#"); err != nil {
			t.Fatal(err)
		}
		b.hearsMusic("102 (the invalid-mailbox prompt)", c)
		b.talkThenHangUp("101", a, "102", c)
	})
	t.Run("user hung up: the caller reaches the user's own mailbox", func(t *testing.T) {
		b := newBed(t, inMode(mode, nil), "101", "102")
		a, c := b.call("101", "102")
		if err := c.SendDTMF(b.ctx, "*8199"); err != nil {
			t.Fatal(err)
		}
		c.Hangup(b.ctx)
		b.leavesMessage(a, "102", 3*time.Second)
	})
	t.Run("REFER to a missing mailbox is refused and nobody is dropped", func(t *testing.T) {
		b := newBed(t, inMode(mode, nil), "101", "102")
		a, c, tr := b.blindTransfer("*8199")
		if mode == "core" {
			b.rungBack(a, c, tr)
			return
		}
		if code, err := tr.WaitFinal(b.ctx); err != nil || code < 300 {
			t.Fatalf("102's phone is told %d (%v), want a failure", code, err)
		}
		c.Unhold(b.ctx)
		b.talkThenHangUp("101", a, "102", c)
	})
}

// get fetches one of transferd's operator endpoints.
func (b *bed) get(path string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequestWithContext(b.ctx, http.MethodGet, b.ops+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestMetricsCountATransferTheTestPerformed(t *testing.T) {
	inEachMode(t, testMetricsCountATransferTheTestPerformed)
}

func testMetricsCountATransferTheTestPerformed(t *testing.T, mode string) {
	b := newBed(t, inMode(mode, nil), "101", "102", "103")
	const completed = `transferd_transfers_total{kind="blind",node="pbx",outcome="completed"} 1`
	if _, body := b.get("/metrics"); strings.Contains(body, completed) {
		t.Fatal("a transfer is counted before any happened")
	}
	a, c, tr := b.blindTransfer("103")
	in := b.toldThenRings(tr, c, "103")
	in.Answer(b.ctx)
	b.hears("103", in, "101")
	status, body := b.get("/metrics")
	if status != 200 || !strings.Contains(body, completed) {
		t.Fatalf("/metrics (%d) lacks %q:\n%s", status, completed, grepLines(body, "transferd_"))
	}
	if !strings.Contains(body, "transferd_active_calls 1") {
		t.Errorf("/metrics does not show the one active call:\n%s", grepLines(body, "transferd_active_calls"))
	}
	a.Hangup(b.ctx)
	if err := in.WaitEnded(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.eventuallyMetric("transferd_active_calls 0")
}

// eventuallyMetric waits until /metrics shows line.
func (b *bed) eventuallyMetric(line string) {
	b.t.Helper()
	for {
		_, body := b.get("/metrics")
		if strings.Contains(body, line) {
			return
		}
		select {
		case <-b.ctx.Done():
			b.t.Fatalf("/metrics never shows %q:\n%s", line, grepLines(body, "transferd_"))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestReadyOnlyWhileAsteriskIsConnected(t *testing.T) {
	b := newBed(t, nil)
	waitStatus := func(path string, want int) {
		t.Helper()
		for {
			if code, _ := b.get(path); code == want {
				return
			}
			select {
			case <-b.ctx.Done():
				code, body := b.get(path)
				t.Fatalf("%s stays %d (%s), want %d", path, code, body, want)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	waitStatus("/readyz", 200)
	waitStatus("/healthz", 200)
	if err := b.sb.Stop(b.ctx); err != nil {
		t.Fatal(err)
	}
	waitStatus("/readyz", 503)
	waitStatus("/healthz", 200) // alive, just not ready
	if err := b.sb.StartAgain(b.ctx); err != nil {
		t.Fatal(err)
	}
	waitStatus("/readyz", 200)
	if _, body := b.get("/metrics"); !strings.Contains(body, `transferd_ari_reconnects_total{node="pbx"} 1`) {
		t.Errorf("reconnect not counted:\n%s", grepLines(body, "transferd_ari"))
	}
}

func TestKilledTransferdsCallIsAdoptedByItsSuccessor(t *testing.T) {
	b := newBed(t, nil, "101", "102", "103")
	kill := b.startProcess()
	a, c := b.call("101", "102")
	b.hears("101", a, "102")
	kill() // SIGKILL mid-call...
	b.hears("101 (transferd dead)", a, "102")
	b.hears("102 (transferd dead)", c, "101")
	b.stopDaemon = b.startDaemon() // ...and a new one takes over
	b.waitReady()
	b.hears("101 (after adoption)", a, "102")
	// It read each channel's records in one request (EVAL), not one per
	// variable (which it would have warned about).
	if slow := b.logged.FilterMessageSnippet("one variable at a time").All(); len(slow) > 0 {
		t.Errorf("the successor read the records variable by variable: %s %v", slow[0].Message, slow[0].ContextMap())
	}
	// A transfer on the adopted call works.
	in := b.toldThenRings(b.blindTransferOn(a, c, "103"), c, "103")
	in.Answer(b.ctx)
	b.talkThenHangUp("101", a, "103", in)
}

// transferd (inbound mode) is SIGKILLed while a call talks, and 102
// presses Tran and dials 103 before a new transferd is up: Asterisk
// answers the REFER 202 and keeps it pending, but its ChannelTransfer goes
// to nobody and is never sent again. The successor adopts the call, its
// probe finds the REFER, and carries it out: 102 told 200, 103 rings and
// talks to 101.
func TestReferSentWhileNoTransferdRunsIsCarriedOutByItsSuccessor(t *testing.T) {
	b := newBed(t, inMode("ari-only", nil), "101", "102", "103")
	kill := b.startProcess()
	a, c := b.call("101", "102")
	b.hears("101", a, "102")
	kill()
	// (Asterisk keeps the application while its channels are in Stasis,
	// inactive: the REFER's event is written to the dead connection or to
	// nobody, lost either way.)
	tr := b.blindTransferOn(a, c, "103")
	sent := time.Now()
	b.stopDaemon = b.startDaemon()
	b.waitReady()
	b.pendingBlindReferCarriedOut(tr, sent, a, c)
}

func TestKilledDuringAnAttendedConsultationTheTransferStillCompletes(t *testing.T) {
	inEachMode(t, testKilledDuringAnAttendedConsultationTheTransferStillCompletes)
}

func testKilledDuringAnAttendedConsultationTheTransferStillCompletes(t *testing.T, mode string) {
	// In ari-only mode this passes alone about two runs in three: in the
	// third, Asterisk 22.10.1 answers the REFER after the restart with 202
	// but raises no ChannelTransfer (nothing in transferd's debug log, no
	// SIP subscription, no queued PJSIP task; once under load it came three
	// minutes later when the phones hung up; compare the open ari-only
	// deadlock report #2166). Core handling does not depend on that event.
	if mode == "ari-only" && os.Getenv("TRANSFERD_E2E_SLOW") != "1" {
		t.Skip("set TRANSFERD_E2E_SLOW=1: see the comment (Asterisk REFER stall after the restart)")
	}
	b := newBed(t, inMode(mode, nil), "101", "102", "103")
	kill := b.startProcess()
	a, first, second, colleague := b.consult(true)
	kill()
	b.stopDaemon = b.startDaemon()
	b.waitReady()
	b.hearsMusic("101 (still held after the restart)", a)
	b.hears("102 (consulting after the restart)", second, "103")
	tr, err := first.AttendedTransfer(b.ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	b.told(tr, 200)
	b.talkThenHangUp("101", a, "103", colleague.incoming)
}

func TestKilledDuringABlindTransferTheTargetStillConnects(t *testing.T) {
	b := newBed(t, nil, "101", "102", "103")
	kill := b.startProcess()
	a, c, tr := b.blindTransfer("103")
	in := b.toldThenRings(tr, c, "103")
	kill()
	b.stopDaemon = b.startDaemon()
	b.waitReady()
	b.hearsMusic("101 (ringback after adoption)", a)
	in.Answer(b.ctx)
	b.talkThenHangUp("103", in, "101", a)
}

func TestAsteriskRestartForgetsCallsAndNewCallsWork(t *testing.T) {
	b := newBed(t, nil, "101", "102")
	a, c := b.call("101", "102")
	b.hears("101", a, "102")
	if _, body := b.get("/metrics"); !strings.Contains(body, "transferd_active_calls 1") {
		t.Fatalf("the call is not active:\n%s", grepLines(body, "transferd_active_calls"))
	}
	if err := b.sb.Restart(b.ctx); err != nil {
		t.Fatal(err)
	}
	// The call died with Asterisk; the phones notice nothing (no BYE came)
	// and hang up themselves.
	a.Hangup(b.ctx)
	c.Hangup(b.ctx)
	for {
		code, _ := b.get("/readyz")
		_, body := b.get("/metrics")
		if code == 200 && strings.Contains(body, "transferd_active_calls 0") {
			break
		}
		select {
		case <-b.ctx.Done():
			t.Fatalf("after the restart: readyz %d, %s", code, grepLines(body, "transferd_active_calls"))
		case <-time.After(100 * time.Millisecond):
		}
	}
	waitAppRegistered(b.ctx, t, b.sb, "transferd")
	for _, ext := range []string{"101", "102"} {
		if err := b.phones[ext].Register(b.ctx); err != nil {
			t.Fatal(err)
		}
	}
	a, c = b.call("101", "102")
	b.talkThenHangUp("101", a, "102", c)
}
