// Command loadtest measures transferd side by side with Asterisk's native
// transfers (issue 9) and soaks transferd with concurrent calls that each
// go through a blind and an attended transfer (issue 8).
//
//	go run ./internal/loadtest                      # ramp 10, 25, 50, 100, 150, 200
//	go run ./internal/loadtest -levels 5,20 -out /tmp/r.md
//	go run ./internal/loadtest -configs transferd -levels 100 -repeat-for 2m -out internal/loadtest/soak.md
//	go run ./internal/loadtest -configs transferd-ha -levels 50 -repeat-for 5m -kill-every 30s
//	go run ./internal/loadtest -chart internal/loadtest/results.md   # redraw results.svg, run nothing
//
// For each configuration ("transferd": phones call through transferd,
// which runs as its own process; "transferd-core": the same with every
// phone in transferd's fallback mode, Asterisk performing the REFERs;
// "native": phones call through plain
// Asterisk dialplan and Asterisk performs the transfers; "transferd-ha":
// as "transferd", but Asterisk connects out through HAProxy to two
// transferd replicas in outbound mode, issue 20) it starts a
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
// fresh process) for transferd-ha, within a -repeat-for soak (faults.go);
// -ha-rest websocket|http (transferd-ha's replicas' ari.rest);
// -transferd-bin (run this transferd binary instead of building one);
// -chart FILE reads the "Results per load level" table of a report the
// harness wrote and draws its chart beside it, without running anything
// (chart.go, rampparse.go).
// Logs
// (transferd's, the phones' sipgo errors) stay in a temporary directory
// the run names; a failed configuration keeps its Asterisk directory.
package main
