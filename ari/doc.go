// Package ari is transferd's typed client for the Asterisk REST Interface
// (ARI) of Asterisk 22: REST calls for channels, bridges, playbacks,
// endpoints and applications, and one WebSocket subscription that delivers
// the application's events in the order Asterisk sent them.
//
// Every event model of Asterisk's events.json is a Go type (events_gen.go,
// generated from the swagger files Asterisk ships); an event type Asterisk
// adds later arrives as an *UnknownEvent, never as an error. A slow reader
// slows the stream, it never loses an event. When the connection breaks the
// client reconnects with backoff and jitter and marks the gap with
// *Disconnected and *Reconnected: Asterisk does not replay missed events, so
// the application should then reconcile with what Asterisk holds.
//
// Asterisk's errors come back as *Error with the HTTP status and Asterisk's
// message; errors.Is tells ErrNotFound (gone) from ErrConflict (not in
// Stasis) from the rest. Credentials never appear in logs or errors.
package ari

//go:generate go run ../internal/ariagen -out events_gen.go
