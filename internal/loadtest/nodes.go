package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/transferd/transferd/internal/sandbox"
)

// transferd-nodes is issue 24's load topology on one machine: two sandbox
// Asterisk nodes joined by SIP trunks (sandbox.StartNodes, as
// `transferd --sandbox --nodes 2`), each connecting out to
// ws://<HAProxy>/ari/<node>; HAProxy (balance leastconn) spreads the two
// connections over two transferd replicas, which join over a NATS server
// running in this process and route each node's extensions to it over the
// trunks. node1 hosts extensions 1000-1999 and node2 2000-2999, so each
// route is one regular expression.
const nodeCount = 2

// nodeName names node i (from 0): the path of its outbound websocket, its
// trunk on the other node and the node label of transferd's metrics.
func nodeName(i int) string { return "node" + strconv.Itoa(i+1) }

// nodeExtension is node i's k-th phone: (i+1)000 + k.
func nodeExtension(i, k int) string { return strconv.Itoa((i+1)*1000 + k) }

// nodeRoute is node i's route: its extensions and the trunk that reaches
// them from the other node (transferd's `routes`, the README's "Scale
// out").
func nodeRoute(i int) map[string]string {
	return map[string]string{"extensions": fmt.Sprintf("^%d[0-9]{3}$", i+1), "node": nodeName(i), "dial": "PJSIP/{exten}@" + nodeName(i)}
}

// startNodes starts the two nodes, 4×top phones on each, connecting out
// to HAProxy's front (started with the replicas), and the NATS server.
func (t *target) startNodes(ctx context.Context, top int, front string, logf func(string, ...any)) error {
	specs := make([]sandbox.Node, nodeCount)
	for i := range specs {
		specs[i].Name = nodeName(i)
		for k := range 4 * top {
			specs[i].Phones = append(specs[i].Phones, nodeExtension(i, k))
		}
	}
	nodes, err := sandbox.StartNodes(ctx, specs, "ws://"+front+"/ari", sandbox.Options{PhoneContext: phoneContext(t.name), Logf: logf})
	if err != nil {
		return fmt.Errorf("start asterisk: %w", err)
	}
	t.sb, t.nodes = nodes[0], nodes
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.stop()
		return fmt.Errorf("nats: %w", err)
	}
	go ns.Start()
	t.nats = ns
	if !ns.ReadyForConnections(10 * time.Second) {
		t.stop()
		return errors.New("nats: not ready within 10 s")
	}
	return nil
}

// nodesSetup writes what the replicas need beyond the environment into a
// configuration file (--config): the nodes' names, NATS and the routes.
// Each Asterisk node's connection lands on the replica with the fewest
// (leastconn); the faults follow node1's.
func (t *target) nodesSetup(spec *daemonSpec, dir string) (replicaSetup, error) {
	setup := replicaSetup{config: t.name, balance: "leastconn", perReplica: true}
	var names []string
	var routes []map[string]string
	for i := range t.nodes {
		names = append(names, nodeName(i))
		routes = append(routes, nodeRoute(i))
		setup.serves = append(setup.serves, nodeServing(nodeName(i)))
	}
	config := map[string]any{
		"ari":     map[string]any{"nodes": names},
		"cluster": map[string]any{"nats_url": t.nats.ClientURL()},
		"routes":  routes,
	}
	data, err := json.MarshalIndent(config, "", "  ") // (JSON is YAML)
	if err != nil {
		return setup, err
	}
	path := filepath.Join(dir, t.name+".yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return setup, fmt.Errorf("replicas' configuration: %w", err)
	}
	spec.args = append(spec.args, "--config", path)
	return setup, nil
}

// nodeQuartets lays out n scenarios on each node, 4n phones per node,
// the nodes' scenarios interleaved so both start together. Scenario k of
// node x has A, B and D on x; its C is on x too for even k (a same-node
// scenario) and on the other node y for odd k (cross-node: B's blind
// transfer to C and C's attended transfer to D both cross the trunk). A
// cross-node scenario takes y's phone 4k+2, which y's own scenario k
// (also cross-node) leaves free by taking x's.
func nodeQuartets(nodes []*sandbox.Sandbox, n int) []quartet {
	var quartets []quartet
	for k := range n {
		for x, sb := range nodes {
			y := (x + 1) % len(nodes)
			q := quartet{extA: nodeExtension(x, 4*k), extB: nodeExtension(x, 4*k+1), extC: nodeExtension(x, 4*k+2),
				extD: nodeExtension(x, 4*k+3), on: [4]*sandbox.Sandbox{sb, sb, sb, sb}, cross: k%2 == 1}
			if q.cross {
				q.extC, q.on[2] = nodeExtension(y, 4*k+2), nodes[y]
			}
			quartets = append(quartets, q)
		}
	}
	return quartets
}

// NodeSplit is a transferd-nodes level's scenarios tallied apart: those
// whose transfers stay on their node and those whose transfers cross it.
type NodeSplit struct {
	Same, Cross LevelResult
}

// splitByPlace tallies same-node and cross-node scenarios apart.
func splitByPlace(outcomes []outcome) *NodeSplit {
	var same, cross []outcome
	for _, o := range outcomes {
		if o.cross {
			cross = append(cross, o)
		} else {
			same = append(same, o)
		}
	}
	s := &NodeSplit{Same: LevelResult{Scenarios: len(same), FailedSteps: map[string]int{}},
		Cross: LevelResult{Scenarios: len(cross), FailedSteps: map[string]int{}}}
	tally(&s.Same, same)
	tally(&s.Cross, cross)
	return s
}

// ReplicaResult is one replica's use during a transferd-nodes level: its
// slot behind HAProxy, whatever processes ran there (a killed one's
// successor included).
type ReplicaResult struct {
	Name string
	CPU  time.Duration
	// Transfers its processes ended (transferd_transfers_total, every
	// node and outcome, scraped every second: a killed process's last
	// second before the kill's own scrape is not counted).
	Transfers int
	// Serves: the nodes connected to it at the end of the level.
	Serves []string
}

// results is each slot's use between two usage readings, and the nodes it
// serves now.
func (h *replicaSet) results(ctx context.Context, before, after []replicaUse) []ReplicaResult {
	if len(before) != len(h.slots) || len(after) != len(h.slots) {
		return nil
	}
	pages := h.scrapeAll(ctx)
	out := make([]ReplicaResult, len(h.slots))
	for i, s := range h.slots {
		out[i] = ReplicaResult{Name: s.name, CPU: after[i].cpu - before[i].cpu, Transfers: int(after[i].transfers - before[i].transfers)}
		for _, series := range h.serves {
			if series.on(pages[i]) {
				out[i].Serves = append(out[i].Serves, series.node)
			}
		}
	}
	return out
}

// nodesText is the transferd-nodes section: per level, the calls and
// transfers that failed and the latencies, same-node against cross-node,
// then each replica's CPU per 1000 transfers against the single-node
// transferd's of the same run ("" when no transferd-nodes level ran).
func nodesText(configs []ConfigResult) string {
	nodes := configsNamed(configs, configTransferdNodes)
	var calls, replicas strings.Builder
	for _, c := range nodes {
		for _, l := range c.Levels {
			if l.Split != nil {
				calls.WriteString(nodesRow(l))
			}
			replicas.WriteString(replicaRows(l, singleNodeCPU(configs, l.Level)))
		}
	}
	if calls.Len() == 0 {
		return ""
	}
	return "\n## Nodes (" + configTransferdNodes + ")\n\n" + nodesIntro + "\n" + nodesHeader + calls.String() +
		"\n" + replicasHeader + replicas.String() + faultTimes(nodes)
}

const nodesIntro = `Two Asterisk nodes joined by SIP trunks (each the other's endpoint, context ` + "`from-nodes`" + `), each
connecting out to ` + "`ws://<HAProxy>/ari/node<i>`" + `; HAProxy (` + "`balance leastconn`" + `, /readyz checked every 300 ms)
spreads the two connections over two transferd replicas (outbound mode, REST over each node's
connection), joined over a NATS server (nats-server/v2, embedded in the harness: its CPU counts as
the harness's) and routing ` + "`^1[0-9]{3}$`" + ` to node1 and ` + "`^2[0-9]{3}$`" + ` to node2 over the trunks. "concurrent"
is per node: each node runs that many scenarios at once with its own phones. Even-numbered
scenarios of a node keep all four phones on it (same-node); odd-numbered ones register C on the
other node, so B's blind transfer to C and C's attended transfer (REFER with Replaces) to D, back
on the first node, both cross the trunk (cross-node; A then talks to D through both nodes).
Latencies are REFER sent → final NOTIFY received, p50 / p99 in ms. A kill SIGKILLs the replica
whose /metrics says ` + "`" + nodeConnectedMetric + `{node="node1"} 1` + "`" + ` (it may serve node2 too) and starts a fresh
process on its addresses; the takeover runs to the first scrape where a replica reports node1
connected and has read an event since. A failed call is a failed scenario, a failed transfer
one tried whose final NOTIFY was not 200 in time; in a run with kills a quartet whose scenario
failed closes its phones, waits 2 s, registers fresh ones and carries on, and a failure is "near
a fault" when its failing step began at most 15 s before a kill or at most 2 s after.
Each replica's CPU is that of every process in its slot during the level, per 1000 transfers
those processes ended (` + "`" + transfersMetric + "`" + `); the single-node figure is the "transferd"
configuration's transferd CPU per 1000 transfers at the same level in the same run (one Asterisk,
one transferd, inbound mode).
`

const nodesHeader = "| concurrent per node | faults | kills | failed calls / scenarios: same-node, cross-node | of which near a fault | failed transfers / tried: same-node, cross-node | blind p50 / p99 ms: same-node, cross-node | attended p50 / p99 ms: same-node, cross-node | takeover p50 / p99 / max ms (n) | fault errors |\n" +
	"|---:|---|---:|---:|---:|---:|---:|---:|---:|---|\n"

func nodesRow(l LevelResult) string {
	f := l.Faults
	if f == nil {
		f = &FaultResult{Plan: "none"}
	}
	same, cross := l.Split.Same, l.Split.Cross
	failed := func(r LevelResult) string { return fmt.Sprintf("%d / %d", r.Scenarios-r.Succeeded, r.Scenarios) }
	failedTransfers := func(r LevelResult) string {
		tried, ok := r.Transfers()
		return fmt.Sprintf("%d / %d", tried-ok, tried)
	}
	return fmt.Sprintf("| %d | %s | %d | %s, %s | %d | %s, %s | %s, %s | %s, %s | %s | %s |\n",
		l.Level, f.Plan, f.Kills, failed(same), failed(cross), NearFaults(l.FailedAt, f.At, nearBefore, nearAfter),
		failedTransfers(same), failedTransfers(cross), formatP50P99(same.Blind), formatP50P99(cross.Blind),
		formatP50P99(same.Attended), formatP50P99(cross.Attended), FormatTakeovers(f.Takeovers), orDash(strings.Join(f.Errors, "; ")))
}

// formatP50P99 renders "p50 / p99" in milliseconds, "–" for none.
func formatP50P99(l Latencies) string {
	if l.N == 0 {
		return "–"
	}
	return ms(l.P50) + " / " + ms(l.P99)
}

const replicasHeader = "| concurrent per node | replica | nodes served at the end | CPU s | transfers it ended | CPU s / 1000 of its transfers | all replicas: CPU s / 1000 transfers | single node (transferd, same run): CPU s / 1000 transfers |\n" +
	"|---:|---|---|---:|---:|---:|---:|---:|\n"

// replicaRows are a level's rows of the replicas' table.
func replicaRows(l LevelResult, single string) string {
	_, ok := l.Transfers()
	var b strings.Builder
	for _, r := range l.Replicas {
		fmt.Fprintf(&b, "| %d | %s | %s | %.1f | %d | %s | %s | %s |\n", l.Level, r.Name, orDash(strings.Join(r.Serves, ", ")),
			r.CPU.Seconds(), r.Transfers, PerThousand(r.CPU, r.Transfers), PerThousand(l.TransferdCPU, ok), single)
	}
	return b.String()
}

// singleNodeCPU is the transferd configuration's transferd CPU per 1000
// transfers at level in this run ("not run" without one).
func singleNodeCPU(configs []ConfigResult, level int) string {
	for _, c := range configsNamed(configs, configTransferd) {
		for _, l := range c.Levels {
			if l.Level == level && l.Err == "" {
				_, ok := l.Transfers()
				return PerThousand(l.TransferdCPU, ok)
			}
		}
	}
	return "not run"
}

// configsNamed keeps the results of the configuration name.
func configsNamed(configs []ConfigResult, name string) []ConfigResult {
	var out []ConfigResult
	for _, c := range configs {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}
