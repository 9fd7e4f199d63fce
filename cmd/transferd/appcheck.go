package main

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/transferd/transferd/ari"
)

// stasisFailedVariable is the global variable the dialplan
// (dialplan/extensions_transferd.conf) sets, to the time, whenever a
// call's Stasis() fails and the call goes through as a plain call.
const stasisFailedVariable = "TRANSFERD_STASIS_FAILED"

// defaultAppCheckEvery is how often a connected node looks for calls that
// missed transferd: one GET of a global variable.
const defaultAppCheckEvery = 30 * time.Second

// appAsterisk is what the application check asks of Asterisk.
type appAsterisk interface {
	Application(ctx context.Context, name string) (*ari.Application, error)
	Applications(ctx context.Context) ([]ari.Application, error)
	GlobalVariable(ctx context.Context, name string) (string, error)
}

// appCheck tells the operator, once each, the two ways calls miss
// transferd although it is connected to their Asterisk, both a matter of
// the Stasis application's name: Asterisk does not serve ari.app on this
// connection (outbound mode: ari.conf's apps names another), or the
// dialplan's Stasis() names another application than the one transferd
// serves, so every call fails over to a plain call (no *8, no transfer
// policy) and nothing else would say so.
type appCheck struct {
	asterisk appAsterisk
	app      string
	log      *zap.Logger
	every    time.Duration
	// connection counts the node's event stream connections (it changes
	// when the stream comes back) and connected says it is up now.
	connection func() uint64
	connected  func() bool
}

// served checks, once connected, that Asterisk serves ari.app here.
func (c *appCheck) served(ctx context.Context) {
	_, err := c.asterisk.Application(ctx, c.app)
	if !errors.Is(err, ari.ErrNotFound) {
		return
	}
	var names []string
	if apps, err := c.asterisk.Applications(ctx); err == nil {
		for _, a := range apps {
			names = append(names, a.Name)
		}
	}
	c.log.Error("Asterisk does not serve transferd's Stasis application on this connection: make ari.app, the apps of ari.conf's outbound_websocket and the dialplan's Stasis() name the same application",
		zap.String("ari.app", c.app), zap.Strings("asterisk_serves", names))
}

// watch reads the dialplan's record of failed Stasis() calls every
// c.every until ctx ends, and tells the first one that happened while
// this node was connected. A failure while transferd was not connected
// is the dialplan's fallback doing its job (inbound mode), not news.
func (c *appCheck) watch(ctx context.Context) {
	var seen string   // the record at the last look
	var seenIn uint64 // the connection it was read in (0: none yet)
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	for {
		if c.connected() {
			conn := c.connection()
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			record, err := c.asterisk.GlobalVariable(rctx, stasisFailedVariable)
			cancel()
			switch {
			case err != nil:
				c.log.Debug("reading the dialplan's record of failed Stasis() calls", zap.Error(err))
			case !c.connected() || c.connection() != conn:
				seenIn = 0
			case seenIn == conn && record != seen:
				c.log.Error("calls fail over to plain calls although transferd is connected: the dialplan's Stasis() names an application transferd does not serve; make extensions_transferd.conf's Stasis() name ari.app (outbound mode: and ari.conf's apps)",
					zap.String("ari.app", c.app), zap.String("last_failure_epoch", record))
				return // (told once)
			default:
				seen, seenIn = record, conn
			}
		} else {
			seenIn = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
