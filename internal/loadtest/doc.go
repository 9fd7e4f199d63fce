// Command loadtest measures transferd side by side with Asterisk's native
// transfers (issue 9) and soaks transferd with concurrent calls that each
// go through a blind and an attended transfer (issue 8).
//
//	go run ./internal/loadtest                      # ramp 10, 25, 50, 100, 150, 200
//	go run ./internal/loadtest -levels 5,20 -out /tmp/r.md
//	go run ./internal/loadtest -configs transferd -levels 100 -repeat-for 2m -out internal/loadtest/soak.md
//
// For each configuration ("transferd": phones call through transferd,
// which runs as its own process; "transferd-core": the same with every
// phone in transferd's fallback mode, Asterisk performing the REFERs;
// "native": phones call through plain
// Asterisk dialplan and Asterisk performs the transfers) it starts a
// private Asterisk sandbox (internal/sandbox; needs root and the cached
// root filesystem), then runs the load levels in order with fresh SIP test
// phones (internal/sipphone). A configuration's ramp stops at its first
// level with a failure. The results go to a Markdown file and stdout.
//
// Flags: -levels (default 10,25,50,100,150,200), -configs, -out (default
// internal/loadtest/results.md), -step-timeout, -hear, -ramp-up,
// -repeat-for (a soak: every group of phones repeats its scenario until
// then), -keep-going (run every level even after a failure), -sip-trace (Asterisk
// logs every SIP message) and -transferd-log-level, for diagnosis. Logs
// (transferd's, the phones' sipgo errors) stay in a temporary directory
// the run names; a failed configuration keeps its Asterisk directory.
package main
