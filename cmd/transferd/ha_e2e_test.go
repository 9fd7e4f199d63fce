package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/haproxy"
)

// outbound puts the bed's transferd in outbound mode: Asterisk connects to
// it (ari.conf outbound_websocket, a persistent websocket_client) and
// REST requests travel over that connection.
func outbound(c *Config) { c.ARI.Mode = "outbound" }

// In outbound mode, every transfer works as in inbound mode: here a blind
// transfer and an attended one (the inbound tests' scenarios), with audio
// and displays checked, nothing left after.
func TestOutboundModeTransfers(t *testing.T) {
	t.Run("blind", func(t *testing.T) { blindTransferAnsweredCallerTalksToTarget(t, inMode("ari-only", outbound)) })
	t.Run("attended", func(t *testing.T) { attendedTransferCompletedCallerTalksToColleague(t, inMode("ari-only", outbound)) })
	// ari.rest http: events over Asterisk's connection, REST to its HTTP
	// server.
	restOverHTTP := func(c *Config) { outbound(c); c.ARI.REST = "http" }
	t.Run("blind, REST over HTTP", func(t *testing.T) {
		blindTransferAnsweredCallerTalksToTarget(t, inMode("ari-only", restOverHTTP))
	})
	t.Run("attended, REST over HTTP", func(t *testing.T) {
		attendedTransferCompletedCallerTalksToColleague(t, inMode("ari-only", restOverHTTP))
	})
}

// A call placed while no transferd is connected waits in Stasis (Asterisk
// keeps the application registered and queues its events) and goes
// through once transferd is back: the callee rings and both talk.
func TestOutboundCallWaitsForTransferd(t *testing.T) {
	b := newBed(t, outbound, "101", "102")
	b.stopDaemon()
	result := b.dial("101", "102")
	time.Sleep(2 * time.Second) // the caller waits: nobody serves the app
	select {
	case r := <-result:
		t.Fatalf("the call ended while transferd was away: %v", r.err)
	default:
	}
	b.stopDaemon = b.startDaemon()
	in := b.rings("102")
	if err := in.Answer(b.ctx); err != nil {
		t.Fatal(err)
	}
	r := <-result
	if r.err != nil {
		t.Fatalf("101's call: %v", r.err)
	}
	b.talkThenHangUp("101", r.call, "102", in)
}

// A transferd restarted while a call talks: Asterisk reconnects to the new
// one, which adopts the call; a blind transfer on it then works.
func TestOutboundRestartKeepsTheCall(t *testing.T) {
	b := newBed(t, inMode("ari-only", outbound), "101", "102", "103")
	a, c := b.call("101", "102")
	b.hears("101", a, "102")
	b.stopDaemon()
	b.stopDaemon = b.startDaemon()
	b.waitReady()
	b.hears("101 (after the restart)", a, "102")
	tr := b.blindTransferOn(a, c, "103")
	in := b.toldThenRings(tr, c, "103")
	if err := in.Answer(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.talkThenHangUp("101", a, "103", in)
}

// Inbound mode with no transferd connected: the dialplan falls back to a
// plain call with Asterisk's own transfer handling. The office can still
// call, and transfer with the Tran key (here a blind transfer), audio
// checked both ways.
func TestWithoutTransferdCallsFallBackToPlainAsterisk(t *testing.T) {
	b := newBed(t, nil, "101", "102", "103")
	b.stopDaemon()
	waitAppGone(b.ctx, t, b.sb, b.cfg.ARI.App)
	a, c := b.call("101", "102")
	b.hears("101", a, "102")
	b.hears("102", c, "101")
	tr := b.blindTransferOn(a, c, "103")
	b.told(tr, 200) // (Asterisk's NOTIFY: transferd is not there)
	c.Hangup(b.ctx)
	in := b.rings("103")
	if err := in.Answer(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.talkThenHangUp("101", a, "103", in)
}

// replica is one transferd process of a replicated deployment behind
// HAProxy, in outbound mode.
type replica struct {
	name, listen, ops string
	*process
}

// startReplica runs a transferd process in outbound mode with listeners of
// its own (and env's settings, TRANSFERD_*) and waits until it is ready to
// take Asterisk's connection.
func (b *bed) startReplica(name string, env ...string) *replica {
	b.t.Helper()
	return b.startReplicaAt(name, freeAddr(b.t), freeAddr(b.t), env...)
}

// startReplicaAt runs a replica on the given addresses (those of one it
// replaces, as HAProxy knows them).
func (b *bed) startReplicaAt(name, listen, ops string, env ...string) *replica {
	b.t.Helper()
	r := &replica{name: name, listen: listen, ops: ops}
	env = append([]string{"TRANSFERD_ARI_MODE=outbound", "TRANSFERD_ARI_LISTEN=" + r.listen, "TRANSFERD_HTTP_LISTEN=" + r.ops}, env...)
	r.process = b.spawnProcess("replica "+name, env...)
	// (Cleanups run last first: this one runs before the replica is
	// killed.)
	b.t.Cleanup(b.nothingLeft)
	b.waitReadyAt(r.ops)
	return r
}

// nothingLeft checks, once, while the replicas still run, that Asterisk
// holds nothing after the test: the serving replica ends the calls the
// phones hung up.
func (b *bed) nothingLeft() {
	b.emptyChecked.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if left, _ := b.sb.WaitEmpty(ctx, 5*time.Second); left != "" {
			b.t.Errorf("Asterisk still holds after the test: %s", left)
		}
	})
}

// metricAt reads a metric without labels from the transferd whose
// operator endpoints are at ops (-1 when it cannot be read).
func (b *bed) metricAt(ops, name string) int {
	b.t.Helper()
	req, _ := http.NewRequestWithContext(b.ctx, http.MethodGet, "http://"+ops+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				return n
			}
		}
	}
	return -1
}

// replicas replaces the bed's transferd by two replica processes behind
// HAProxy and returns them once the first serves Asterisk (HAProxy's
// balance first) and the second stands by.
func (b *bed) replicas() (serving, standby *replica) {
	b.t.Helper()
	return b.replicasWith()
}

// replicasWith is replicas with settings of the serving replica's own
// (TRANSFERD_*, TRANSFERD_E2E_DIE_AT).
func (b *bed) replicasWith(servingEnv ...string) (serving, standby *replica) {
	b.t.Helper()
	b.stopDaemon()
	serving, standby = b.startReplica("a", servingEnv...), b.startReplica("b")
	b.startHAProxy(b.cfg.ARI.Listen, "first", serving, standby)
	b.t.Cleanup(b.nothingLeft)
	b.waitMetricAt(serving, "transferd_ari_connected", 1, 10*time.Second)
	return serving, standby
}

// failOver SIGKILLs the serving replica and waits until Asterisk's
// connection has reached the standby and its calls are adopted (ready).
func (b *bed) failOver(serving, standby *replica, calls int) {
	b.t.Helper()
	killed := time.Now()
	serving.kill()
	b.waitMetricAt(standby, "transferd_active_calls", calls, 10*time.Second)
	b.t.Logf("replica %s took %d call(s) over %s after the kill", standby.name, calls, time.Since(killed).Round(time.Millisecond))
}

func (b *bed) waitMetricAt(r *replica, name string, want int, within time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for b.metricAt(r.ops, name) != want {
		if time.Now().After(deadline) {
			b.t.Fatalf("replica %s: %s is %d after %s, want %d", r.name, name, b.metricAt(r.ops, name), within, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startHAProxy runs HAProxy on front (the address Asterisk's
// websocket_client connects to) in front of replicas, configured as the
// README's "High availability" section says (internal/haproxy), with
// balance: "first" (one Asterisk) or "leastconn" (several nodes).
func (b *bed) startHAProxy(front, balance string, replicas ...*replica) {
	b.t.Helper()
	opts := haproxy.Options{Front: front, Balance: balance, Dir: b.t.TempDir(), Logf: b.t.Logf}
	for _, r := range replicas {
		opts.Replicas = append(opts.Replicas, haproxy.Replica{Name: r.name, Listen: r.listen, Ops: r.ops})
	}
	p, err := haproxy.Start(b.ctx, opts)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { b.t.Logf("haproxy:\n%s", p.Stop()) })
}

// Two transferd replicas behind HAProxy: the one serving Asterisk is
// SIGKILLed while a call talks; Asterisk reconnects through HAProxy to the
// other, which adopts the call: it keeps its audio, and a blind transfer
// on it works.
func TestReplicaKilledWhileACallTalks(t *testing.T) {
	b := newBed(t, inMode("ari-only", outbound), "101", "102", "103")
	serving, standby := b.replicas()
	a, c := b.call("101", "102")
	b.hears("101", a, "102")
	b.hears("102", c, "101")
	if n := b.metricAt(serving.ops, "transferd_active_calls"); n != 1 {
		t.Fatalf("replica a handles %d calls, want the one (HAProxy's balance first)", n)
	}
	// A silent peer is found by TCP keepalives, Asterisk's to HAProxy and
	// HAProxy's to the serving replica (not WebSocket PINGs, which crash
	// 22.11: websocket_client.conf).
	if b.sb.Installed.KnowsKeepalives() {
		for _, to := range []string{b.cfg.ARI.Listen, serving.listen} {
			if !keepaliveTimerTo(t, to) {
				t.Errorf("no TCP keepalive timer on the established connection to %s", to)
			}
		}
	}
	b.failOver(serving, standby, 1)
	b.hears("101 (after the kill)", a, "102")
	tr := b.blindTransferOn(a, c, "103")
	in := b.toldThenRings(tr, c, "103")
	if err := in.Answer(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.talkThenHangUp("101", a, "103", in)
}

// The serving replica is SIGKILLed while a blind transfer's target rings:
// the caller keeps hearing ringback from the successor, and the target's
// answer connects them.
func TestReplicaKilledWhileABlindTransferTargetRings(t *testing.T) {
	b := newBed(t, inMode("ari-only", outbound), "101", "102", "103")
	serving, standby := b.replicas()
	a, c, tr := b.blindTransfer("103")
	in := b.toldThenRings(tr, c, "103")
	b.failOver(serving, standby, 1)
	b.hearsRingback("101 (after the kill)", a)
	if err := in.Answer(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.talkThenHangUp("103", in, "101", a)
}

// The serving replica dies right after reading a phone's REFER, before it
// has recorded it on the transferer's channel (TRANSFERD_E2E_DIE_AT: the
// window the load harness's kills hit a few times in a thousand): Asterisk
// has answered the REFER 202 and never sends its ChannelTransfer again.
// The successor adopts the call and probes its phones; Asterisk
// re-announces the pending REFER, and the successor carries it out: 102's
// phone is told 200 and hangs up, 101 hears ringback while 103 rings, and
// 103's answer connects them.
func TestReplicaKilledBetweenReadingAReferAndRecordingIt(t *testing.T) {
	b := newBed(t, inMode("ari-only", outbound), "101", "102", "103")
	serving, standby := b.replicasWith("TRANSFERD_E2E_DIE_AT=refer")
	a, c := b.call("101", "102")
	b.hears("101", a, "102")
	b.hears("102", c, "101")
	tr := b.blindTransferOn(a, c, "103")
	sent := time.Now() // (202 received)
	serving.died(5 * time.Second)
	b.waitMetricAt(standby, "transferd_active_calls", 1, 10*time.Second)
	b.pendingBlindReferCarriedOut(tr, sent, a, c)
}

// The same for an attended transfer: the replica dies on reading 102's
// REFER with Replaces (the Tran key after consulting 103); the
// successor adopts both calls, its probe finds the REFER pending on 102's
// held call, and it completes the transfer: 102 told 200, 101 and 103
// talk, 102's consultation call ends.
func TestReplicaKilledBetweenReadingAnAttendedReferAndRecordingIt(t *testing.T) {
	b := newBed(t, inMode("ari-only", outbound), "101", "102", "103")
	serving, standby := b.replicasWith("TRANSFERD_E2E_DIE_AT=refer")
	a, first, second, colleague := b.consult(true)
	tr, err := first.AttendedTransfer(b.ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	serving.died(5 * time.Second)
	b.waitMetricAt(standby, "transferd_active_calls", 1, 10*time.Second)
	b.toldSoon(tr, sent)
	b.hangsUpAfterTransfer(first)
	if err := second.WaitEnded(b.ctx); err != nil {
		t.Fatalf("102's consultation call is not hung up after the transfer: %v", err)
	}
	b.talkThenHangUp("101", a, "103", colleague.incoming)
}

// The serving replica is SIGKILLed during an attended transfer's
// consultation: the caller stays held with music, the consultation goes
// on, and the Tran key (REFER with Replaces) hands the caller over.
func TestReplicaKilledDuringAnAttendedConsultation(t *testing.T) {
	b := newBed(t, inMode("ari-only", outbound), "101", "102", "103")
	serving, standby := b.replicas()
	a, first, second, colleague := b.consult(true)
	b.failOver(serving, standby, 2)
	b.hearsMusic("101 (still held after the kill)", a)
	b.hears("102 (consulting after the kill)", second, "103")
	b.hears("103 (consulting after the kill)", colleague.incoming, "102")
	tr, err := first.AttendedTransfer(b.ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	b.told(tr, 200)
	b.talkThenHangUp("101", a, "103", colleague.incoming)
}

// The serving replica is SIGKILLed while 102 keys a *8 voicemail transfer:
// "*8" and the first digit reach the first replica, the rest the
// successor, which goes on collecting (the entry is kept on the held
// caller's channel); 102 hangs up and 101 leaves a message in 103's
// mailbox.
func TestReplicaKilledWhileAVoicemailTransferIsKeyed(t *testing.T) {
	b := newBed(t, inMode("ari-only", outbound), "101", "102", "103")
	serving, standby := b.replicas()
	a, c := b.keysDuringCall("*81")
	b.failOver(serving, standby, 1)
	if err := c.SendDTMF(b.ctx, "03"); err != nil {
		t.Fatal(err)
	}
	b.hearsMusic("101 (still held after the kill)", a)
	c.Hangup(b.ctx)
	b.leavesMessage(a, "103", 4*time.Second)
	if msgs := b.voicemailMessages("102"); len(msgs) != 0 {
		t.Errorf("102 has %d messages, want none", len(msgs))
	}
}

// A rolling upgrade: each replica in turn is stopped with SIGTERM and
// replaced, while a call talks and then while a blind transfer's target
// rings. Each stopping replica hands Asterisk's connection over once
// everything it received is handled; the call goes on, the transfer
// completes, audio both ways.
func TestRollingUpgradeHandsEachConnectionOver(t *testing.T) {
	b := newBed(t, inMode("ari-only", outbound), "101", "102", "103")
	first, second := b.replicas()
	a, c := b.call("101", "102")
	b.hears("101", a, "102")
	// (A keyed digit in flight while the first replica stops: a tone,
	// but an event the engine must handle or hand over whole.)
	if err := c.SendDTMF(b.ctx, "5"); err != nil {
		t.Fatal(err)
	}
	b.handsOver(first, second, 1)
	upgraded := b.startReplicaAt("a2", first.listen, first.ops)
	b.hears("101 (after the first hand-over)", a, "102")
	tr := b.blindTransferOn(a, c, "103")
	in := b.toldThenRings(tr, c, "103")
	b.handsOver(second, upgraded, 1)
	b.hearsRingback("101 (after the second hand-over)", a)
	if err := in.Answer(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.talkThenHangUp("103", in, "101", a)
}

// handsOver stops the serving replica with SIGTERM: it exits cleanly after
// handing Asterisk's connection over with no step cut in half, and the
// next replica serves the calls.
func (b *bed) handsOver(serving, next *replica, calls int) {
	b.t.Helper()
	stopped := time.Now()
	err, logs := serving.stop()
	if err != nil {
		b.t.Errorf("replica %s exited with %v after SIGTERM", serving.name, err)
	}
	if !strings.Contains(logs, "handing Asterisk's connection over: no step under way") {
		b.t.Errorf("replica %s did not hand its connection over cleanly", serving.name)
	}
	b.waitMetricAt(next, "transferd_ari_connected", 1, 10*time.Second)
	b.waitMetricAt(next, "transferd_active_calls", calls, 10*time.Second)
	b.t.Logf("replica %s serves %d call(s) %s after %s got SIGTERM", next.name, calls, time.Since(stopped).Round(time.Millisecond), serving.name)
}

// With TRANSFERD_MAX_WAIT set (outbound mode), a call placed while no
// transferd is connected waits that long, then goes through as a plain
// call; a transferd connecting afterwards leaves it alone. A call
// transferd takes has the timeout cleared: it talks past the bound.
func TestOutboundWaitIsBoundedThenThePlainCallFallback(t *testing.T) {
	b := newBed(t, outbound, "101", "102", "103")
	const maxWait = 3 * time.Second
	if out, err := b.sb.CLI(b.ctx, fmt.Sprintf("dialplan set global TRANSFERD_MAX_WAIT %d", int(maxWait.Seconds()))); err != nil {
		t.Fatalf("set TRANSFERD_MAX_WAIT: %v %s", err, out)
	}
	// Taken by transferd: talks past the bound.
	a, c := b.call("101", "103")
	time.Sleep(maxWait + time.Second)
	b.hears("101 (past the bound)", a, "103")
	b.hears("103 (past the bound)", c, "101")
	a.Hangup(b.ctx)
	c.Hangup(b.ctx)

	b.stopDaemon()
	placed := time.Now()
	result := b.dial("101", "102")
	in := b.rings("102")
	if waited := time.Since(placed); waited < maxWait-500*time.Millisecond {
		t.Errorf("102 rang %s after the call was placed, before the bound %s", waited, maxWait)
	}
	if err := in.Answer(b.ctx); err != nil {
		t.Fatal(err)
	}
	r := <-result
	if r.err != nil {
		t.Fatalf("101's call: %v", r.err)
	}
	b.hears("101 (plain call)", r.call, "102")
	b.stopDaemon = b.startDaemon()
	b.waitReady()
	time.Sleep(time.Second)
	if n := b.metricAt(b.cfg.HTTP.Listen, "transferd_active_calls"); n != 0 {
		t.Errorf("transferd took %d call(s) that had left for the plain-call fallback", n)
	}
	b.talkThenHangUp("101", r.call, "102", in)
}

// Outbound mode over TLS (ari.listen_cert_file): Asterisk connects with
// wss://, verifying transferd's certificate and host name, and a blind
// transfer works over that connection.
func TestOutboundModeOverTLS(t *testing.T) {
	certFile, keyFile := selfSignedCertificate(t, "127.0.0.1")
	blindTransferAnsweredCallerTalksToTarget(t, inMode("ari-only", func(c *Config) {
		outbound(c)
		c.ARI.ListenCertFile, c.ARI.ListenKeyFile = certFile, keyFile
	}))
}

// selfSignedCertificate writes a certificate for host (an IP address) and
// its key, PEM, and returns their paths.
func selfSignedCertificate(t *testing.T, host string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: host},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP(host)},
		DNSNames:              []string{host},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// keepaliveTimerTo reports whether an established IPv4 TCP connection to
// addr ("127.0.0.1:port") has its keepalive timer running (/proc/net/tcp:
// state 01, timer 02).
func keepaliveTimerTo(t *testing.T, addr string) bool {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	remote := fmt.Sprintf(":%04X", n)
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		// sl local_address rem_address st tx:rx tr:tm->when ...
		if len(f) > 5 && strings.HasSuffix(f[2], remote) && f[3] == "01" && strings.HasPrefix(f[5], "02:") {
			return true
		}
	}
	return false
}
