package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// ari.app names another application than the dialplan's Stasis(transferd)
// (inbound mode): Asterisk takes transferd's connection all the same, and
// every call fails over to a plain call. The caller is not dropped (the
// call connects, audio both ways) and the operator is told, once, what
// to change.
func TestAStasisApplicationNobodyServesIsTold(t *testing.T) {
	b := newBed(t, func(c *Config) {
		c.ARI.App = "transferd-misnamed"
		c.ARI.appCheckEvery = 200 * time.Millisecond
	}, "101", "102")
	for range 2 {
		a, c := b.call("101", "102")
		b.talkThenHangUp("101", a, "102", c)
	}
	const told = "calls fail over to plain calls although transferd is connected"
	deadline := time.Now().Add(5 * time.Second)
	for b.logged.FilterMessageSnippet(told).Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	a, c := b.call("101", "102")
	b.talkThenHangUp("101", a, "102", c)
	time.Sleep(time.Second) // (a second telling would be here by now)
	entries := b.logged.FilterMessageSnippet(told).All()
	if len(entries) != 1 {
		t.Fatalf("told %d times that calls miss transferd, want once", len(entries))
	}
	if msg := entries[0].Message; !strings.Contains(msg, "Stasis()") || entries[0].ContextMap()["ari.app"] != "transferd-misnamed" {
		t.Errorf("told %q %v: want what to change (Stasis() and ari.app)", msg, entries[0].ContextMap())
	}
}

// Outbound mode: Asterisk connects for the application of its ari.conf
// (transferd) while ari.app names another; transferd says so as soon as
// Asterisk has connected.
func TestAnApplicationAsteriskDoesNotServeIsTold(t *testing.T) {
	b := newBed(t, func(c *Config) {
		outbound(c)
		c.ARI.App = "transferd-misnamed"
	})
	const told = "Asterisk does not serve transferd's Stasis application"
	deadline := time.Now().Add(10 * time.Second)
	for b.logged.FilterMessageSnippet(told).Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	entries := b.logged.FilterMessageSnippet(told).All()
	if len(entries) != 1 {
		t.Fatalf("told %d times that Asterisk does not serve ari.app, want once", len(entries))
	}
	if serves := entries[0].ContextMap()["asterisk_serves"]; !strings.Contains(fmt.Sprint(serves), "transferd") {
		t.Errorf("told %v: want the applications Asterisk serves named", entries[0].ContextMap())
	}
}
