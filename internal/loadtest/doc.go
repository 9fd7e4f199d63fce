// Command loadtest measures transferd side by side with Asterisk's native
// transfers (issue 9), soaks transferd with concurrent calls that each go
// through a blind and an attended transfer (issue 8), and measures what
// long, mostly untransferred office calls cost Asterisk per call-minute
// in each configuration (the office mix, issue 23).
//
//	go run ./internal/loadtest                      # ramp 10, 25, 50, 100, 150, 200
//	go run ./internal/loadtest -levels 5,20 -out /tmp/r.md
//	go run ./internal/loadtest -configs transferd -levels 100 -repeat-for 2m -out internal/loadtest/soak.md
//	go run ./internal/loadtest -configs transferd-ha -levels 50 -repeat-for 5m -kill-every 30s
//	go run ./internal/loadtest -configs transferd-nodes,transferd -levels 50 -repeat-for 60s -kill-every 30s -out internal/loadtest/nodes-kill.md
//	go run ./internal/loadtest -chart internal/loadtest/results.md   # redraw results.svg, run nothing
//
// For each configuration of the ramp (-mix ramp, the default;
// "transferd": phones call through transferd,
// which runs as its own process; "transferd-core": the same with every
// phone in transferd's fallback mode, Asterisk performing the REFERs;
// "native": phones call through plain
// Asterisk dialplan and Asterisk performs the transfers; "transferd-ha":
// as "transferd", but Asterisk connects out through HAProxy to two
// transferd replicas in outbound mode, issue 20; "transferd-nodes": two
// Asterisk nodes joined by SIP trunks, both connecting out through
// HAProxy, balance leastconn, to two replicas joined over NATS, a level
// of N running N scenarios on each node, half of them transferring
// across the trunk, issue 24, nodes.go) it starts a
// private Asterisk sandbox (internal/sandbox; needs root and the cached
// root filesystem), then runs the load levels in order with fresh SIP test
// phones (internal/sipphone). A configuration's ramp stops at its first
// level with a failure. The results go to a Markdown file and stdout, and
// the ramp (p50 and p99 latencies, CPU per 1000 transfers, against the
// load) to a chart beside the file: -out results.md draws results.svg.
//
// Flags: -levels (default 10,25,50,100,150,200), -configs, -out (default
// internal/loadtest/results.md), -step-timeout, -hear, -ramp-up,
// -repeat-for (a soak: every group of phones repeats its scenario until
// then), -keep-going (run every level even after a failure), -sip-trace (Asterisk
// logs every SIP message) and -transferd-log-level, for diagnosis;
// -kill-every (SIGKILL the serving replica and start a fresh one, measuring
// the takeover) or -rolling-every (replace every replica with SIGTERM and a
// fresh process) for transferd-ha and transferd-nodes (the replica node1
// is connected to), within a -repeat-for soak (faults.go);
// -ha-rest websocket|http (transferd-ha's replicas' ari.rest);
// -transferd-bin (run this transferd binary instead of building one);
// -chart FILE reads the "Results per load level" table of a report the
// harness wrote and draws its chart beside it, without running anything
// (chart.go, rampparse.go).
//
// The office mix (-mix office, issue 23; office.go, officelevel.go,
// officecall.go, officereport.go) asks what a PBX administrator asks:
// what each configuration costs Asterisk per call-minute of ordinary,
// mostly untransferred calls that last minutes.
//
//	go run ./internal/loadtest -mix office        # levels 20,60,120, 60 s calls, every configuration below
//	go run ./internal/loadtest -mix office -configs native,transferd -levels 4 -call-duration 30s -out /tmp/office.md
//
// At each level it keeps that many calls up (A calls B, both send their
// tones, they check they hear each other), each lasting -call-duration
// (default 1m, at least 30s with star8 transfers) from its answer; the first calls start spread over one
// call duration so the ends are spread too, and a slot places its next
// call when one ends. -transfer-share of the calls (default 0.1) are
// transferred by B a third of the way in, taking -transfer-kinds in turn
// (default blind,attended,star8): blind (REFER to C), attended (consult
// C, REFER with Replaces), star8 (A to C's voicemail: *8 and C's
// extension keyed in the call (RFC 4733), or, where no phone keys *8 in
// a call, a blind REFER to *8<extension>). After one call duration it
// measures a steady window (-window, default and minimum the call
// duration): Asterisk's, transferd's and the harness's CPU, the
// call-minutes actually carried (the integral of answered calls), the
// transfers, and Asterisk's bridge technologies ("bridge show all" at
// mid-window); failures count per step. The report (-out, default
// internal/loadtest/office-mix.md) has a table per level: Asterisk ms CPU
// per call-minute and its ratio to native's, transferd ms CPU per
// call-minute, transfers, failures and bridges. Its configurations
// (-configs, default all six): native, native-features (the same
// dialplan with Dial(...,tT): Asterisk listens for DTMF features; context
// sandbox-direct-features), transferd, transferd-native (transferd with
// voicemail.refer_only_extensions ".": no in-call *8, plain mixing
// bridges), transferd-info (every phone sends DTMF as SIP INFO,
// voicemail.info_dtmf_extensions ".": in-call *8 over plain mixing
// bridges) and transferd-core. -perf-asterisk samples Asterisk with Linux
// perf over each window and lists its hottest functions in the report
// (it costs Asterisk a little CPU: profile in a run of its own).
// -ramp-up, -repeat-for, -keep-going and the fault flags do not apply to
// it; -step-timeout, -hear, -sip-trace, -transferd-log-level and
// -transferd-bin do.
//
// Logs
// (transferd's, the phones' sipgo errors) stay in a temporary directory
// the run names; a failed configuration keeps its Asterisk directory.
package main
