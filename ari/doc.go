// Package ari is transferd's typed client for the Asterisk REST Interface
// (ARI) of Asterisk 22: REST calls for channels, bridges, playbacks,
// endpoints and applications, and one WebSocket subscription that delivers
// the application's events in the order Asterisk sent them.
//
// Every event model of Asterisk's events.json is a Go type with every field
// Asterisk documents, and so is every model an event carries (Channel,
// Bridge, LiveRecording, ...): events_gen.go and models_gen.go are generated
// from the swagger files Asterisk ships by internal/ariagen (go generate
// ./ari; a test fails when they no longer match the shipped spec). Switch on
// the concrete type of an Event (*StasisStart, *ChannelTransfer, ...); an
// event type Asterisk adds later arrives as an *UnknownEvent with its raw
// JSON, never as an error. A slow reader
// slows the stream, it never loses an event. When the connection breaks the
// client reconnects with backoff and jitter and marks the gap with
// *Disconnected and *Reconnected: Asterisk does not replay missed events, so
// the application should then reconcile with what Asterisk holds.
// Config.Events limits the stream to the event types the application acts
// on (an application event filter in Asterisk, set on every connection).
//
// Asterisk's errors come back as *Error with the HTTP status and Asterisk's
// message; errors.Is tells ErrNotFound (gone) from ErrConflict (not in
// Stasis) from the rest. Credentials never appear in logs or errors.
package ari

//go:generate go run ../internal/ariagen
