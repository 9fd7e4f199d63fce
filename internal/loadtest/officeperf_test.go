package main

import (
	"strings"
	"testing"
)

func TestPerfLinesKeepsTheSamplesOnly(t *testing.T) {
	report := `# To display the perf.data header info, please use --header/--header-only options.
#
# Samples: 29K of event 'cpu-clock:pppH'
# Overhead  Shared Object      Symbol
# ........  .................  ..............
#
    12.50%  [kernel.kallsyms]  [k] _raw_spin_unlock_irqrestore
     6.25%  asterisk           [.] ast_read_stream   

#
# (Cannot load tips.txt file, please install perf!)
#
`
	got := PerfLines(report)
	want := "12.50%  [kernel.kallsyms]  [k] _raw_spin_unlock_irqrestore\n6.25%  asterisk           [.] ast_read_stream\n"
	if got != want {
		t.Errorf("PerfLines:\n%q\nwant\n%q", got, want)
	}
}

func TestOfficeProfilesListsEachProfiledLevel(t *testing.T) {
	configs := []OfficeConfig{
		{Name: "native", Levels: []OfficeLevel{{Level: 20}}},
		{Name: "transferd", Levels: []OfficeLevel{{Level: 20, AsteriskProfile: "9.00%  asterisk  [.] ast_read\n"}}},
	}
	got := officeProfiles(configs)
	for _, want := range []string{"## Where Asterisk's CPU goes", "transferd at 20 calls:", "9.00%  asterisk  [.] ast_read\n```"} {
		if !strings.Contains(got, want) {
			t.Errorf("profiles section lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "native at") {
		t.Errorf("a level without a profile is listed:\n%s", got)
	}
	if officeProfiles(configs[:1]) != "" {
		t.Error("a section without any profile")
	}
}
