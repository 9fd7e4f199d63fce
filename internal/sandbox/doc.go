// Package sandbox runs a real Asterisk 22 for transferd's tests and demo.
//
// Debian bookworm has no Asterisk 22, so the sandbox builds a Debian sid root
// filesystem with debootstrap once (about a minute, cached under
// ~/.cache/transferd or $TRANSFERD_CACHE) and runs Asterisk in it with
// chroot, in a private mount namespace (for /proc), as root. Each sandbox
// gets its own configuration, spool, logs, database and control socket
// inside that shared root filesystem, and listens on loopback ports the OS
// chose, so any number of sandboxes run side by side.
//
// The configuration is the project's own dialplan (package dialplan) plus
// test-only files in asterisk/: phones 101–109 with digest auth
// (PhonePassword), G.711, RFC 4733 DTMF, mailboxes, music on hold, and ARI.
//
// In a test:
//
//	sb := sandbox.Start(t, sandbox.Options{})
//	// register phones at sb.SIPAddr, connect ARI at sb.ARIURL+"/ari"
//	// with sb.ARIUser / sb.ARIPassword ...
//
// Start fails the test with Asterisk's own log lines when Asterisk cannot
// start, and, when the test ends, fails it if a channel or bridge is left.
package sandbox
