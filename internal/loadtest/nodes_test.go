package main

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/transferd/transferd/internal/sandbox"
)

// Issue 24's load report: "a level of N runs N scenarios on each node;
// half of each node's scenarios transfer to a target on the other node".
func TestNodeQuartetsRunNOnEachNodeHalfOfThemAcross(t *testing.T) {
	nodes := []*sandbox.Sandbox{{SIPAddr: "node1"}, {SIPAddr: "node2"}}
	const n = 4
	quartets := nodeQuartets(nodes, n)
	if len(quartets) != 2*n {
		t.Fatalf("%d quartets, want %d", len(quartets), 2*n)
	}
	seen := map[string]bool{}
	cross := map[*sandbox.Sandbox]int{}
	for _, q := range quartets {
		home := q.on[0]
		for role, ext := range q.exts() {
			if seen[ext] {
				t.Fatalf("extension %s in two scenarios", ext)
			}
			seen[ext] = true
			if want := nodes[ext[0]-'1']; q.on[role] != want {
				t.Errorf("%s registers on %s, want %s (its node)", ext, q.on[role].SIPAddr, want.SIPAddr)
			}
		}
		if q.on[1] != home || q.on[3] != home {
			t.Errorf("scenario %s: A, B and D must share a node: %v", q.extA, q.exts())
		}
		if q.cross != (q.on[2] != home) {
			t.Errorf("scenario %s: cross %v, but C on %s and A on %s", q.extA, q.cross, q.on[2].SIPAddr, home.SIPAddr)
		}
		if q.cross {
			cross[home]++
		}
	}
	for i, sb := range nodes {
		for k := range 4 * n {
			if ext := nodeExtension(i, k); !seen[ext] {
				t.Errorf("%s's phone %s unused", sb.SIPAddr, ext)
			}
		}
		if cross[sb] != n/2 {
			t.Errorf("%s: %d cross-node scenarios, want %d", sb.SIPAddr, cross[sb], n/2)
		}
	}
}

func TestNodeRoutesTakeExactlyTheirNodesPhones(t *testing.T) {
	for i := range nodeCount {
		route := nodeRoute(i)
		re := regexp.MustCompile(route["extensions"])
		if route["node"] != nodeName(i) || route["dial"] != "PJSIP/{exten}@"+nodeName(i) {
			t.Errorf("route %d: %v", i, route)
		}
		for j := range nodeCount {
			for _, k := range []int{0, 4*maxLevel - 1} {
				if ext := nodeExtension(j, k); re.MatchString(ext) != (i == j) {
					t.Errorf("route of %s matches %s: %v", nodeName(i), ext, !(i == j))
				}
			}
		}
	}
}

func TestNodeServingFollowsOneNode(t *testing.T) {
	both := page(t, "transferd_ari_connected 1\n"+`transferd_node_connected{node="node1"} 1`+"\n"+`transferd_node_connected{node="node2"} 1`+"\n")
	second := page(t, "transferd_ari_connected 1\n"+`transferd_node_connected{node="node2"} 1`+"\n")
	node10 := page(t, "transferd_ari_connected 1\n"+`transferd_node_connected{node="node10"} 1`+"\n")
	if i, n := ServingReplica([]Samples{second, both, nil}, nodeServing("node1")); i != 1 || n != 1 {
		t.Errorf("node1: ServingReplica = %d, %d connected; want 1, 1", i, n)
	}
	if _, n := ServingReplica([]Samples{second, both}, nodeServing("node2")); n != 2 {
		t.Errorf("node2 on both: %d connected, want 2", n)
	}
	if nodeServing("node1").on(node10) {
		t.Error("node10's connection taken for node1's")
	}
	if got := nodeServing("node1").String(); got != `transferd_node_connected{node="node1"}` {
		t.Errorf("String = %s", got)
	}
}

func TestSplitByPlaceTalliesCrossNodeApart(t *testing.T) {
	ms := time.Millisecond
	outcomes := []outcome{
		{blindTried: true, attendedTried: true, blind: 10 * ms, attended: 20 * ms},
		{blindTried: true, attendedTried: true, blind: 30 * ms, attended: 40 * ms, cross: true},
		{blindTried: true, blind: 50 * ms, cross: true, attendedTried: true, step: "attended REFER (Replaces) → final NOTIFY 200",
			err: errors.New("no final NOTIFY"), at: time.Now()},
	}
	s := splitByPlace(outcomes)
	if s.Same.Scenarios != 1 || s.Same.Succeeded != 1 || s.Same.Blind.P50 != 10*ms || s.Same.Attended.P50 != 20*ms {
		t.Errorf("same-node: %+v", s.Same)
	}
	if tried, ok := s.Cross.Transfers(); s.Cross.Scenarios != 2 || s.Cross.Succeeded != 1 || tried != 4 || ok != 3 || s.Cross.Blind.N != 2 {
		t.Errorf("cross-node: %+v", s.Cross)
	}
}

func TestNodesTextSetsCrossBesideSameNodeAndTheSingleNode(t *testing.T) {
	ms := time.Millisecond
	nodes := LevelResult{Config: configTransferdNodes, Level: 50, Scenarios: 4, Succeeded: 4, BlindTried: 4, BlindOK: 4,
		AttendedTried: 4, AttendedOK: 4, TransferdCPU: 8 * time.Second,
		Split: &NodeSplit{
			Same:  LevelResult{Scenarios: 2, Succeeded: 2, BlindTried: 2, BlindOK: 2, AttendedTried: 2, AttendedOK: 2, Blind: Latencies{N: 2, P50: 10 * ms, P99: 12 * ms}, Attended: Latencies{N: 2, P50: 20 * ms, P99: 22 * ms}},
			Cross: LevelResult{Scenarios: 2, Succeeded: 2, BlindTried: 2, BlindOK: 2, AttendedTried: 2, AttendedOK: 2, Blind: Latencies{N: 2, P50: 30 * ms, P99: 32 * ms}, Attended: Latencies{N: 2, P50: 40 * ms, P99: 42 * ms}},
		},
		Replicas: []ReplicaResult{{Name: "r1", CPU: 3 * time.Second, Transfers: 3, Serves: []string{"node2"}}, {Name: "r2", CPU: 5 * time.Second, Transfers: 5, Serves: []string{"node1"}}},
	}
	single := LevelResult{Config: configTransferd, Level: 50, BlindOK: 1000, AttendedOK: 1000, TransferdCPU: 5 * time.Second}
	text := nodesText([]ConfigResult{{Name: configTransferdNodes, Levels: []LevelResult{nodes}}, {Name: configTransferd, Levels: []LevelResult{single}}})
	for _, want := range []string{
		"| 50 | none | 0 | 0 / 2, 0 / 2 | 0 | 0 / 4, 0 / 4 | 10.0 / 12.0, 30.0 / 32.0 | 20.0 / 22.0, 40.0 / 42.0 | – | – |",
		"| 50 | r1 | node2 | 3.0 | 3 | 1000.00 | 1000.00 | 2.50 |",
		"| 50 | r2 | node1 | 5.0 | 5 | 1000.00 | 1000.00 | 2.50 |",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
	if nodesText([]ConfigResult{{Name: configTransferd, Levels: []LevelResult{single}}}) != "" {
		t.Error("a section without a transferd-nodes level")
	}
}

func TestNodesKillPlanNamesTheNode(t *testing.T) {
	p := faultPlan{killEvery: 30 * time.Second}
	if got, want := p.describe(nodeServing("node1")), "SIGKILL the replica serving node1 every 30s"; got != want {
		t.Errorf("describe = %q, want %q", got, want)
	}
	if got := p.describe(haServing); got != p.String() {
		t.Errorf("transferd-ha's plan changed: %q", got)
	}
}
