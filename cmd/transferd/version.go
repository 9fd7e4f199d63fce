package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// testedAsterisk lists the Asterisk versions .ci/run's end-to-end phases
// run against (the sandbox's newest 22 and Debian sid's). The end-to-end
// test of the transfer handling fails when the sandbox runs one not listed
// here, so the list cannot go stale unnoticed.
var testedAsterisk = []string{"22.11.0-rc2", "22.10.1"}

// printVersion writes transferd's version (the module version and the
// commit it was built from, when the build recorded them) and the Asterisk
// versions it was tested with.
func printVersion(w io.Writer) {
	version, commit := "(unknown)", ""
	if info, ok := debug.ReadBuildInfo(); ok {
		version = info.Main.Version
		var rev, when, dirty string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = ", modified"
				}
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			commit = fmt.Sprintf(", commit %s%s, %s", rev, dirty, when)
		}
	}
	fmt.Fprintf(w, "transferd %s (%s%s)\ntested end to end with Asterisk %s\n",
		version, runtime.Version(), commit, strings.Join(testedAsterisk, ", "))
}
