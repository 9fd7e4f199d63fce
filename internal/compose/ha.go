package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/transferd/transferd/internal/haproxy"
	"github.com/transferd/transferd/internal/sandbox"
)

// The high-availability stack (docker-compose.ha.yml): Asterisk in
// outbound mode connects through HAProxy to two transferd replicas, the
// README's "High availability" set-up. All on the host's loopback, on
// ports of their own, so it can run beside the single-node stack.
const (
	haAsteriskImage = "transferd/asterisk-ha:22"
	haproxyImage    = "transferd/haproxy:dev"
	haARIPort       = 8089
	haSIPPort       = 5070
	// haFront is where Asterisk's websocket_client connects: HAProxy.
	haFront = "127.0.0.1:8099"
	// haproxyConf is HAProxy's configuration in its image.
	haproxyConf = "/etc/haproxy/transferd.cfg"
)

// haReplicas are the stack's transferd replicas, as docker-compose.ha.yml
// configures them (TRANSFERD_ARI_LISTEN, TRANSFERD_HTTP_LISTEN).
func haReplicas() []haproxy.Replica {
	return []haproxy.Replica{
		{Name: "a", Listen: "127.0.0.1:8101", Ops: "127.0.0.1:9571"},
		{Name: "b", Listen: "127.0.0.1:8102", Ops: "127.0.0.1:9572"},
	}
}

// haAsteriskSpec turns the single-node stack's Asterisk configuration
// into the HA stack's: its own ports, and the outbound websocket to
// HAProxy (with TCP keepalives where this Asterisk knows them, so a silent
// peer is given up in about three seconds).
func haAsteriskSpec(spec sandbox.ConfigSpec, installed sandbox.RootFS) sandbox.ConfigSpec {
	spec.ARIPort, spec.SIPPort = haARIPort, haSIPPort
	spec.Outbound = "ws://" + haFront + "/ari"
	spec.Keepalives = installed.KnowsKeepalives()
	return spec
}

// buildHAProxy builds image in dir: Debian's HAProxy, installed on the
// Asterisk base image (the root filesystem's Debian: only Debian's mirror
// is needed, no registry), with internal/haproxy's configuration for opts.
func buildHAProxy(ctx context.Context, dir, baseImage, image string, opts haproxy.Options, logf func(string, ...any)) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	conf := haproxy.Config(opts)
	if err := os.WriteFile(filepath.Join(dir, "transferd.cfg"), []byte(conf), 0o644); err != nil {
		return fmt.Errorf("write haproxy's configuration: %w", err)
	}
	// The base image keeps the package lists of its debootstrap; when
	// the mirror has moved on since, they are refreshed first.
	install := "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy"
	dockerfile := "FROM " + baseImage + "\n" +
		"RUN " + install + " || (apt-get update -qq && " + install + ")\n" +
		"COPY transferd.cfg " + haproxyConf + "\n" +
		`CMD ["haproxy", "-f", "` + haproxyConf + `", "-db"]` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return err
	}
	logf("compose: building %s", image)
	// The host's network: apt reaches the mirror as the host does.
	if err := run(ctx, dir, "docker", "build", "-q", "--network", "host", "-t", image, "."); err != nil {
		return fmt.Errorf("build %s: %w", image, err)
	}
	return nil
}
