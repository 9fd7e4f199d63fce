package ari

import "time"

// timeLayout is how Asterisk stamps events: 2026-11-25T04:35:31.528+0000.
const timeLayout = "2006-01-02T15:04:05.000-0700"

// Time is when Asterisk raised the event; ok is false when the stamp is
// missing or unreadable.
func (e EventBase) Time() (t time.Time, ok bool) {
	t, err := time.Parse(timeLayout, e.Timestamp)
	return t, err == nil
}
