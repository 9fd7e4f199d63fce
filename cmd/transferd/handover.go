package main

import (
	"time"

	"go.uber.org/zap"

	"github.com/transferd/transferd/ari"
	"github.com/transferd/transferd/transfer"
)

// handOverWait bounds how long a stopping transferd waits for a moment
// when nothing it received is left unhandled; past it, the connection is
// closed anyway (a successor adopts what is left). Under load such a
// moment may never come (load harness, 50 calls on 2 cores: the engine
// was never idle in 5 s), and the calls are served meanwhile, so the
// bound only delays the successor.
const handOverWait = 2 * time.Second

// handOver ends this transferd's part in the calls without leaving a step
// half done (SIGTERM: a rolling upgrade, a scale-down). unready has already
// made HAProxy send Asterisk's next connection elsewhere. The engine keeps
// handling events until, twice in a row, every event received has been
// handled and no call owner is busy (waiting at most handOverWait); then
// the connection is closed (at the TCP level: see outboundLink.close):
// Asterisk reconnects to another replica (outbound mode) and queues what
// happens meanwhile for it, and the calls stay in Asterisk for it to adopt.
//
// What Asterisk writes after that moment and before it reads the close
// (the time a frame takes to cross, well under a millisecond on a LAN) is
// logged and left to the successor's reconciliation.
func handOver(engine *transfer.Engine, client *ari.Client, log *zap.Logger) {
	start := time.Now()
	quiet := 0
	for quiet < 2 && time.Since(start) < handOverWait {
		if engine.Idle() && client.Unread() == 0 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(5 * time.Millisecond)
	}
	if quiet < 2 {
		log.Warn("handing Asterisk's connection over while calls were still being handled; the successor adopts them",
			zap.Duration("waited", time.Since(start)), zap.Int("active_calls", engine.ActiveCalls()))
	} else {
		log.Info("handing Asterisk's connection over: every event received is handled",
			zap.Duration("waited", time.Since(start)), zap.Int("active_calls", engine.ActiveCalls()))
	}
	client.Close()
}
