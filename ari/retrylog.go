package ari

import (
	"errors"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// RetryLog reports a connection's retry loop to the operator: the first
// failure of each kind (refused, wrong password, wrong URL, anything else)
// once, clearly, with what to change; the same kind again only at debug
// level, so an Asterisk that is down for an hour writes one line instead
// of hundreds; and, once connected, how long it took. Not safe for
// concurrent use: one retry loop owns it.
type RetryLog struct {
	log      *zap.Logger
	url      string
	told     map[failureKind]bool
	failures int
	since    time.Time
}

// NewRetryLog returns a RetryLog for connections to url, logging to log.
func NewRetryLog(log *zap.Logger, url string) *RetryLog {
	return &RetryLog{log: log, url: url, told: map[failureKind]bool{}}
}

type failureKind int

const (
	failedOther failureKind = iota
	failedRefused
	failedUnauthorized
	failedNotFound
)

func kindOf(err error) failureKind {
	switch {
	case errors.Is(err, ErrUnauthorized):
		return failedUnauthorized
	case errors.Is(err, ErrNotFound):
		return failedNotFound
	case errors.Is(err, syscall.ECONNREFUSED):
		return failedRefused
	}
	return failedOther
}

// Failed logs a failed attempt (next: the wait before the next one).
func (r *RetryLog) Failed(err error, next time.Duration) {
	if r.failures == 0 {
		r.since = time.Now()
	}
	r.failures++
	kind := kindOf(err)
	fields := []zap.Field{zap.String("ari", r.url), zap.Error(err), zap.Duration("retry_in", next)}
	if r.told[kind] {
		r.log.Debug("still cannot connect to Asterisk; retrying", append(fields, zap.Int("attempts", r.failures))...)
		return
	}
	r.told[kind] = true
	fields = append(fields, zap.String("repeats", "logged at debug level until connected"))
	switch kind {
	case failedUnauthorized:
		r.log.Error("Asterisk refuses transferd's ARI username or password: make ari.username/ari.password match a user of Asterisk's ari.conf (password_format = plain)", fields...)
	case failedNotFound:
		// Most likely a wrong URL path; or Asterisk is starting and has
		// not loaded res_ari yet.
		r.log.Error("Asterisk has no ARI event WebSocket at this URL: check ari.url (http://host:port of Asterisk's http.conf, with or without /ari) and that res_ari is loaded; retrying", fields...)
	case failedRefused:
		r.log.Warn("Asterisk refuses connections at this URL: is Asterisk running, with http.conf enabled = yes and bindaddr/bindport as in ari.url? retrying", fields...)
	default:
		r.log.Warn("Asterisk not reachable; retrying", fields...)
	}
}

// Connected logs, after failures, that the connection is made, and starts
// over: the next failure is told again.
func (r *RetryLog) Connected() {
	if r.failures > 0 {
		r.log.Info("connected to Asterisk", zap.String("ari", r.url), zap.Int("failed_attempts", r.failures),
			zap.Duration("after", time.Since(r.since).Round(time.Millisecond)))
	}
	r.failures = 0
	clear(r.told)
}
