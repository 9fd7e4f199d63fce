package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/transferd/transferd/internal/haproxy"
	"github.com/transferd/transferd/internal/sandbox"
)

// The scale-out stack (docker-compose.nodes.yml): two Asterisk nodes
// joined by a SIP trunk, each with an outbound websocket through HAProxy
// (balance leastconn, so the nodes spread over the replicas) to two
// transferd replicas that share one API over NATS: the README's "Scale
// out: many Asterisk nodes" set-up. All on the host's loopback, on ports
// of their own, so it can run beside the other two stacks.
const (
	nodesHAProxyImage   = "transferd/haproxy-nodes:dev"
	natsImage           = "transferd/nats:dev"
	nodesTransferdImage = "transferd/transferd-nodes:dev"
	// nodesFront is where both nodes' websocket_client connects: HAProxy.
	nodesFront = "127.0.0.1:8110"
	// natsAddr is the NATS server's client address
	// (cluster.nats_url in docker-compose.nodes.yml).
	natsAddr = "127.0.0.1:4232"
	// nodesConfig is the routes file in the replicas' image.
	nodesConfig = "/etc/transferd/nodes.yaml"
)

// asteriskNode is one Asterisk of the stack.
type asteriskNode struct {
	name             string
	ariPort, sipPort int
	phones           []string
	// routes is the pattern of its extensions (routes in nodesRoutes).
	routes string
}

// stackNodes are the stack's Asterisk nodes; each reaches the others over
// a trunk named after the other node.
func stackNodes() []asteriskNode {
	return []asteriskNode{
		{name: "node1", ariPort: 8090, sipPort: 5080, phones: []string{"101", "102", "103"}, routes: "^1[0-9]{2}$"},
		{name: "node2", ariPort: 8091, sipPort: 5081, phones: []string{"201", "202", "203"}, routes: "^2[0-9]{2}$"},
	}
}

func (n asteriskNode) image() string { return "transferd/asterisk-" + n.name + ":22" }

func (n asteriskNode) sipAddr() string { return "127.0.0.1:" + strconv.Itoa(n.sipPort) }

// nodesReplicas are the stack's transferd replicas, as
// docker-compose.nodes.yml configures them (TRANSFERD_ARI_LISTEN,
// TRANSFERD_HTTP_LISTEN).
func nodesReplicas() []haproxy.Replica {
	return []haproxy.Replica{
		{Name: "a", Listen: "127.0.0.1:8111", Ops: "127.0.0.1:9581"},
		{Name: "b", Listen: "127.0.0.1:8112", Ops: "127.0.0.1:9582"},
	}
}

// nodesRoutes is the replicas' routes table (a list, which environment
// variables cannot carry; the rest of their configuration is in
// docker-compose.nodes.yml): every node's extensions, reached from the
// others over the trunk named after it.
func nodesRoutes() string {
	conf := "# The routes of docker-compose.nodes.yml's replicas (internal/compose/nodes.go).\nroutes:\n"
	for _, n := range stackNodes() {
		conf += fmt.Sprintf("  - {extensions: %q, node: %s, dial: \"PJSIP/{exten}@%s\"}\n", n.routes, n.name, n.name)
	}
	return conf
}

// buildNodes builds the scale-out stack's images but transferdImage
// (which it extends): one Asterisk image per node, HAProxy, NATS and the
// replicas' image with the routes.
func buildNodes(ctx context.Context, work, baseImage string, spec sandbox.ConfigSpec, installed sandbox.RootFS, logf func(string, ...any)) error {
	nodes := stackNodes()
	for _, n := range nodes {
		s := spec
		s.ARIPort, s.SIPPort, s.Phones = n.ariPort, n.sipPort, n.phones
		s.Outbound = "ws://" + nodesFront + "/ari/" + n.name
		s.Keepalives = installed.KnowsKeepalives()
		var trunks string
		for _, other := range nodes {
			if other.name != n.name {
				trunks += sandbox.TrunkConfig(other.name, other.sipAddr())
			}
		}
		extra := map[string]string{"pjsip_trunks.conf": trunks}
		if err := buildAsterisk(ctx, filepath.Join(work, n.name), baseImage, n.image(), s, extra, logf); err != nil {
			return err
		}
	}
	opts := haproxy.Options{Front: nodesFront, Replicas: nodesReplicas(), Balance: "leastconn"}
	if err := buildHAProxy(ctx, filepath.Join(work, "haproxy-nodes"), baseImage, nodesHAProxyImage, opts, logf); err != nil {
		return err
	}
	return buildNATS(ctx, filepath.Join(work, "nats"), baseImage, logf)
}

// buildNATS builds natsImage in dir: Debian's nats-server, installed on
// the Asterisk base image as HAProxy is (buildHAProxy), listening on
// natsAddr.
func buildNATS(ctx context.Context, dir, baseImage string, logf func(string, ...any)) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(natsAddr)
	install := "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nats-server"
	dockerfile := "FROM " + baseImage + "\n" +
		"RUN " + install + " || (apt-get update -qq && " + install + ")\n" +
		`CMD ["nats-server", "-a", "` + host + `", "-p", "` + port + `"]` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return err
	}
	logf("compose: building %s", natsImage)
	if err := run(ctx, dir, "docker", "build", "-q", "--network", "host", "-t", natsImage, "."); err != nil {
		return fmt.Errorf("build %s: %w", natsImage, err)
	}
	return nil
}

// buildNodesTransferd builds nodesTransferdImage in dir: transferdImage
// with nodesRoutes as its configuration file.
func buildNodesTransferd(ctx context.Context, dir string, logf func(string, ...any)) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "nodes.yaml"), []byte(nodesRoutes()), 0o644); err != nil {
		return err
	}
	dockerfile := "FROM " + transferdImage + "\n" +
		"COPY nodes.yaml " + nodesConfig + "\n" +
		`ENTRYPOINT ["/transferd", "--config", "` + nodesConfig + `"]` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return err
	}
	logf("compose: building %s", nodesTransferdImage)
	if err := run(ctx, dir, "docker", "build", "-q", "-t", nodesTransferdImage, "."); err != nil {
		return fmt.Errorf("build %s: %w", nodesTransferdImage, err)
	}
	return nil
}
