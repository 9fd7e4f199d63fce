package ari

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error is a failed ARI request: what was being done, to which resource,
// and what Asterisk answered. Match it with errors.Is against the
// sentinels below, e.g. errors.Is(err, ari.ErrNotFound) for "channel gone".
type Error struct {
	Op      string // e.g. "hangup channel"
	ID      string // the channel, bridge or playback id, if any
	Status  int    // HTTP status Asterisk returned
	Message string // Asterisk's own message ("Channel not found")
}

func (e *Error) Error() string {
	id := ""
	if e.ID != "" {
		id = " " + e.ID
	}
	return fmt.Sprintf("ari: %s%s: %d %s", e.Op, id, e.Status, e.Message)
}

// Is makes errors.Is(err, ErrNotFound) and friends match by status.
//
// A 400 whose message says something was not found ("Channel not found")
// also matches ErrNotFound: Asterisk answers a bridge's addChannel and
// removeChannel for a channel that no longer exists with 400, not 404
// (res/ari/resource_bridges.c), and a gone channel is a fact the engine
// acts on, not a failure to log.
func (e *Error) Is(target error) bool {
	s, ok := target.(statusError)
	if !ok {
		return false
	}
	if s == ErrNotFound && e.Status == http.StatusBadRequest && strings.HasSuffix(strings.ToLower(e.Message), " not found") {
		return true
	}
	return int(s) == e.Status
}

type statusError int

func (s statusError) Error() string { return "ari: " + http.StatusText(int(s)) }

// Sentinels for the statuses the engine acts on.
var (
	ErrBadRequest    error = statusError(http.StatusBadRequest)          // 400: bad parameters
	ErrUnauthorized  error = statusError(http.StatusUnauthorized)        // 401: wrong ARI username or password
	ErrNotFound      error = statusError(http.StatusNotFound)            // 404: channel/bridge/playback gone
	ErrConflict      error = statusError(http.StatusConflict)            // 409: e.g. channel not in Stasis
	ErrNotInStasis         = ErrConflict                                 // 409 on channel operations
	ErrUnprocessable error = statusError(http.StatusUnprocessableEntity) // 422: e.g. channel not in bridge
)

var _ interface{ Is(error) bool } = (*Error)(nil)

// IsGone reports whether err says the resource no longer exists.
func IsGone(err error) bool { return errors.Is(err, ErrNotFound) }
