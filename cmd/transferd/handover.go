package main

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/transferd/transferd/ari"
	"github.com/transferd/transferd/transfer"
)

// handOverWait bounds how long a stopping transferd waits for the quiesced
// engine to be quiet (Engine.Quiet); past it, the connection is closed
// anyway and a successor adopts what is left. Meanwhile answers, hangups
// and new calls wait for the successor, so the bound is short. (Load
// harness, 2 cores: quiet after 0.2–0.8 s at 50 calls, 1–1.7 s at 100,
// where Asterisk serves the REST requests over the WebSocket one at a time;
// once in 9 hand-overs at 100 the bound ran out.)
const handOverWait = 2 * time.Second

// handOver ends this transferd's part in the calls without leaving a step
// half done (SIGTERM: a rolling upgrade, a scale-down). unready has already
// made HAProxy send Asterisk's next connection elsewhere. The engine is
// quiesced: each call owner finishes its step and then handles only what a
// successor could not learn from Asterisk (a REFER, a digit, a hold, an
// attended transfer passing between two calls). Once, twice in a row, no
// owner is in a step and nothing of that kind waits, the connection is
// closed (at the TCP level: see outboundLink.close): Asterisk reconnects to
// another replica and queues what happens meanwhile for it, and the calls
// stay in Asterisk for it to adopt. A REFER still waiting when the wait
// gives up is refused, so the phone shows the transfer failed instead of
// waiting for a NOTIFY nobody sends.
//
// (Serving everything until the engine was idle did not work: under load
// some call is always in a step, so the wait always ran out and cut steps
// in half. Load harness, rolling upgrade at 50 calls: 57 calls busy at each
// cut.)
//
// What Asterisk writes after that moment and before it reads the close
// (the time a frame takes to cross, well under a millisecond on a LAN) is
// left to the successor's adoption.
func handOver(ctx context.Context, engine *transfer.Engine, client *ari.Client, log *zap.Logger) {
	start := time.Now()
	engine.Quiesce()
	quiet := 0
	for quiet < 2 && time.Since(start) < handOverWait {
		if engine.Quiet() && client.Unread() == 0 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(time.Millisecond)
	}
	if quiet < 2 {
		refused := engine.RefuseQueuedTransfers(ctx)
		log.Warn("handing Asterisk's connection over while a step was still under way; the successor adopts what it left",
			zap.Duration("waited", time.Since(start)), zap.Int("active_calls", engine.ActiveCalls()), zap.Int("refers_refused", refused))
	} else {
		log.Info("handing Asterisk's connection over: no step under way, nothing left that Asterisk does not show",
			zap.Duration("waited", time.Since(start)), zap.Int("active_calls", engine.ActiveCalls()))
	}
	client.Close()
}
