package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/transferd/transferd/internal/sandbox"
)

// maxSandboxNodes bounds --nodes: each node is an Asterisk of its own,
// started one after another (1.3-1.5 s each here), with a trunk to every
// other node; five already show the mesh.
const maxSandboxNodes = 5

// sandboxNodes is --sandbox --nodes n: n sandbox Asterisks, every pair
// joined by a SIP trunk, each connecting in outbound mode to this
// transferd as a node of its own (the README's "Scale out: many Asterisk
// nodes" on one machine). Node i is named node<i> and hosts phones
// i01-i03, each with a mailbox.
type sandboxNodes struct {
	nodes  []*sandbox.Sandbox // node<i> is nodes[i-1]
	listen string             // where the nodes' outbound websockets connect (ari.listen)
	routes []RouteConfig
}

// startSandboxNodes starts n sandbox nodes and joins them; stop stops
// them.
func startSandboxNodes(ctx context.Context, n int, logf func(string, ...any)) (*sandboxNodes, error) {
	if n < 2 || n > maxSandboxNodes {
		return nil, fmt.Errorf("--nodes %d: want 2 to %d (one node is --sandbox alone)", n, maxSandboxNodes)
	}
	listen, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	specs := make([]sandbox.Node, n)
	for i := range specs {
		specs[i] = sandbox.Node{Name: nodeName(i + 1), Phones: nodePhones(i + 1)}
	}
	// Every node's websocket_client and transferd share one ARI password
	// (node1's, random); each node reaches every other over a trunk named
	// like the node it reaches: the routes' dial strings.
	nodes, err := sandbox.StartNodes(ctx, specs, "ws://"+listen+"/ari", sandbox.Options{PhoneContext: "transferd", Logf: logf})
	if err != nil {
		return nil, fmt.Errorf("--nodes: %w", err)
	}
	c := &sandboxNodes{nodes: nodes, listen: listen, routes: sandboxRoutes(n)}
	return c, nil
}

// nodeName is the name of the sandbox's node i (from 1): the path of its
// websocket_client uri, its trunk endpoint on the other nodes, and the
// node label of transferd's metrics.
func nodeName(i int) string { return fmt.Sprintf("node%d", i) }

// nodePhones are node i's extensions, i01 onwards, as many as the single
// sandbox's demo phones (node1's are theirs).
func nodePhones(i int) []string {
	exts := make([]string, len(demoPhones))
	for k := range exts {
		exts[k] = fmt.Sprintf("%d%02d", i, k+1)
	}
	return exts
}

// sandboxRoutes is the routing table of n sandbox nodes: node<i>'s
// extensions (i followed by two digits) are dialled through the trunk
// named like it.
func sandboxRoutes(n int) []RouteConfig {
	routes := make([]RouteConfig, n)
	for i := range routes {
		name := nodeName(i + 1)
		routes[i] = RouteConfig{Extensions: fmt.Sprintf("^%d[0-9]{2}$", i+1), Node: name, Dial: "PJSIP/{exten}@" + name}
	}
	return routes
}

// overrides is the configuration transferd needs to serve the nodes: outbound
// mode on their listener, REST over their connections (ari.url is one
// Asterisk's only), node1 also on plain /ari, and the routes.
func (c *sandboxNodes) overrides() map[string]any {
	first := c.nodes[0]
	return map[string]any{"ari.mode": "outbound", "ari.rest": "websocket", "ari.listen": c.listen,
		"ari.node": nodeName(1), "ari.url": first.ARIURL, "ari.username": first.ARIUser, "ari.password": first.ARIPassword,
		"routes": c.routes}
}

// stop stops every node's Asterisk.
func (c *sandboxNodes) stop() {
	for _, sb := range c.nodes {
		sb.Stop(context.Background())
	}
}

// announce tells a newcomer where each node's phones register, how calls
// find the other nodes and what to try; ops is transferd's operator
// address (http.listen, "" when off).
func (c *sandboxNodes) announce(w io.Writer, ops string) {
	fmt.Fprintf(w, "nodes: %d Asterisk 22 sandboxes, every pair joined by a SIP trunk, served by one transferd\n"+
		"(outbound mode: node<i>'s websocket_client connects to ws://%s/ari/node<i>).\n"+
		"Register softphones (e.g. Linphone, MicroSIP) as\n", len(c.nodes), c.listen)
	for i, sb := range c.nodes {
		fmt.Fprintf(w, "  %s: %s\n", nodeName(i+1), softphoneLogin(sb.SIPAddr, nodePhones(i+1)))
	}
	fmt.Fprintln(w, "Each phone has a mailbox on its node. transferd's routes (the README's \"Scale out\"):")
	for _, r := range c.routes {
		fmt.Fprintf(w, "  %-14s on %s, which the other nodes dial as %s (their trunk to it)\n", r.Extensions, r.Node, r.Dial)
	}
	fmt.Fprintf(w, "Try: call 101 → 102 on node1, then blind-transfer (Tran, 201, Tran) to 201 on node2;\n"+
		"or call 201 from 101 across the trunk.\n")
	if ops != "" {
		fmt.Fprintf(w, "See the nodes connected:\n  curl -s http://%s/metrics | grep -E '^transferd_node_'\n", ops)
	}
}

// softphoneLogin is how to register a softphone as one of exts.
func softphoneLogin(sipAddr string, exts []string) string {
	users := strings.Join(exts[:len(exts)-1], ", ") + " or " + exts[len(exts)-1]
	return fmt.Sprintf("server %s (UDP), user %s, password %s", sipAddr, users, sandbox.PhonePassword("<user>"))
}
