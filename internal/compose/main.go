// Command compose builds the local images docker-compose.yml runs (and,
// with -ha, those docker-compose.ha.yml runs: see ha.go), without any
// image registry:
//
//   - transferd/asterisk:22 — the newest Asterisk 22 Debian offers (or
//     sid's with TRANSFERD_ASTERISK=sid): the cached root filesystem of the
//     test sandbox, imported with `docker import`, plus
//     the sandbox's configuration (ARI on 127.0.0.1:8088, SIP on
//     127.0.0.1:5060, demo phones 101-103 with mailboxes, calls to
//     transferd) and the product dialplan;
//   - transferd/transferd:dev — the daemon, a static binary on scratch.
//
// With -nodes it builds those docker-compose.nodes.yml runs (nodes.go):
// two Asterisk nodes joined by a trunk, HAProxy, NATS and the replicas'
// image with the routes.
//
// Usage: go run ./internal/compose && docker-compose up
//
//	go run ./internal/compose -ha && docker-compose -p transferd-ha -f docker-compose.ha.yml up
//	go run ./internal/compose -nodes && docker-compose -p transferd-nodes -f docker-compose.nodes.yml up
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"

	"github.com/transferd/transferd/internal/haproxy"
	"github.com/transferd/transferd/internal/sandbox"
)

const (
	// baseImage is tagged with the Asterisk version it holds, so a root
	// filesystem with another Asterisk is imported anew.
	baseImage      = "transferd/asterisk-base"
	asteriskImage  = "transferd/asterisk:22"
	transferdImage = "transferd/transferd:dev"
	// pbxDir is where the image keeps Asterisk's configuration and state.
	pbxDir = "/var/lib/transferd-pbx"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rebuildBase := flag.Bool("rebuild-base", false, "import the root filesystem again even if the base image exists")
	ariPassword := flag.String("ari-password", "transferd-demo", "password of the ARI user transferd (must match TRANSFERD_ARI_PASSWORD in docker-compose.yml)")
	ha := flag.Bool("ha", false, "build the images of docker-compose.ha.yml (Asterisk in outbound mode, HAProxy, transferd) instead")
	nodes := flag.Bool("nodes", false, "build the images of docker-compose.nodes.yml (two Asterisk nodes joined by a trunk, HAProxy, NATS, transferd with routes) instead")
	flag.Parse()
	stack := "single"
	switch {
	case *ha && *nodes:
		fmt.Fprintln(os.Stderr, "compose: -ha and -nodes build different stacks: choose one")
		os.Exit(2)
	case *ha:
		stack = "ha"
	case *nodes:
		stack = "nodes"
	}
	if err := build(ctx, *rebuildBase, *ariPassword, stack); err != nil {
		fmt.Fprintln(os.Stderr, "compose:", err)
		os.Exit(1)
	}
	switch stack {
	case "ha":
		fmt.Println("compose: images ready; start the stack with: docker-compose -p transferd-ha -f docker-compose.ha.yml up")
		return
	case "nodes":
		fmt.Println("compose: images ready; start the stack with: docker-compose -p transferd-nodes -f docker-compose.nodes.yml up")
		return
	}
	fmt.Println("compose: images ready; start the stack with: docker-compose up")
}

// build builds the images of stack: "single" (docker-compose.yml), "ha"
// or "nodes".
func build(ctx context.Context, rebuildBase bool, ariPassword, stack string) error {
	logf := func(f string, a ...any) { fmt.Printf(f+"\n", a...) }
	opts := sandbox.RootFSOptionsFromEnv()
	opts.Logf = logf
	installed, err := sandbox.EnsureRootFS(ctx, opts)
	if err != nil {
		return err
	}
	rootfs := installed.Dir
	baseImage := baseImage + ":" + installed.AsteriskVersion()
	logf("compose: Asterisk %s (Debian %s)", installed.AsteriskVersion(), installed.Suite)
	if rebuildBase || run(ctx, "", "docker", "image", "inspect", baseImage) != nil {
		logf("compose: importing %s as %s", rootfs, baseImage)
		// The sandboxes' private directories are not part of the image.
		tar := fmt.Sprintf("tar -C %q --exclude=./var/tmp/transferd-sandbox --exclude=./proc/* -c . | docker import - %s", rootfs, baseImage)
		if err := run(ctx, "", "sh", "-c", tar); err != nil {
			return fmt.Errorf("import the root filesystem: %w", err)
		}
	}

	work, err := os.MkdirTemp("", "transferd-compose-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	spec := sandbox.ConfigSpec{
		Dir: pbxDir, ARIUser: "transferd", ARIPassword: ariPassword, PhoneContext: "transferd",
		ARIPort: 8088, SIPPort: 5060, Phones: []string{"101", "102", "103"},
	}
	switch stack {
	case "nodes":
		if err := buildNodes(ctx, work, baseImage, spec, installed, logf); err != nil {
			return err
		}
		if err := buildTransferd(ctx, filepath.Join(work, "transferd"), logf); err != nil {
			return err
		}
		return buildNodesTransferd(ctx, filepath.Join(work, "transferd-nodes"), logf)
	case "ha":
		if err := buildAsterisk(ctx, filepath.Join(work, "asterisk"), baseImage, haAsteriskImage, haAsteriskSpec(spec, installed), nil, logf); err != nil {
			return err
		}
		opts := haproxy.Options{Front: haFront, Replicas: haReplicas()}
		if err := buildHAProxy(ctx, filepath.Join(work, "haproxy"), baseImage, haproxyImage, opts, logf); err != nil {
			return err
		}
	default:
		if err := buildAsterisk(ctx, filepath.Join(work, "asterisk"), baseImage, asteriskImage, spec, nil, logf); err != nil {
			return err
		}
	}
	return buildTransferd(ctx, filepath.Join(work, "transferd"), logf)
}

// buildAsterisk builds image: the base image and the configuration spec
// describes (pbxDir in the image), with extra's files (name → text) added
// to its etc (e.g. pjsip_trunks.conf).
func buildAsterisk(ctx context.Context, pbx, baseImage, image string, spec sandbox.ConfigSpec, extra map[string]string, logf func(string, ...any)) error {
	for _, d := range []string{"etc", "db", "spool", "run", "log", "cache"} {
		if err := os.MkdirAll(filepath.Join(pbx, "pbx", d), 0o755); err != nil {
			return err
		}
		// Docker copies empty directories, but keep them visible.
		if err := os.WriteFile(filepath.Join(pbx, "pbx", d, ".keep"), nil, 0o644); err != nil {
			return err
		}
	}
	if err := sandbox.RenderConfig(filepath.Join(pbx, "pbx", "etc"), spec); err != nil {
		return err
	}
	for name, text := range extra {
		if err := os.WriteFile(filepath.Join(pbx, "pbx", "etc", name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	dockerfile := "FROM " + baseImage + "\n" +
		"COPY pbx " + pbxDir + "\n" +
		`CMD ["asterisk", "-f", "-n", "-U", "root", "-G", "root", "-C", "` + pbxDir + `/etc/asterisk.conf"]` + "\n"
	if err := os.WriteFile(filepath.Join(pbx, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return err
	}
	logf("compose: building %s", image)
	if err := run(ctx, pbx, "docker", "build", "-q", "-t", image, "."); err != nil {
		return fmt.Errorf("build %s: %w", image, err)
	}
	return nil
}

// buildTransferd builds transferdImage in td: a static binary on an empty
// image.
func buildTransferd(ctx context.Context, td string, logf func(string, ...any)) error {
	if err := os.MkdirAll(td, 0o755); err != nil {
		return err
	}
	logf("compose: building the transferd binary")
	gobuild := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(td, "transferd"), "./cmd/transferd")
	gobuild.Env = append(os.Environ(), "CGO_ENABLED=0")
	gobuild.Stdout, gobuild.Stderr = os.Stdout, os.Stderr
	if err := gobuild.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	dockerfile := "FROM scratch\nCOPY transferd /transferd\nENTRYPOINT [\"/transferd\"]\n"
	if err := os.WriteFile(filepath.Join(td, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return err
	}
	logf("compose: building %s", transferdImage)
	if err := run(ctx, td, "docker", "build", "-q", "-t", transferdImage, "."); err != nil {
		return fmt.Errorf("build %s: %w", transferdImage, err)
	}
	return nil
}

func run(ctx context.Context, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", name, err, out)
	}
	return nil
}
