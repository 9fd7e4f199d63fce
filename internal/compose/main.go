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
// Usage: go run ./internal/compose && docker-compose up
//
//	go run ./internal/compose -ha && docker-compose -p transferd-ha -f docker-compose.ha.yml up
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"

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
	flag.Parse()
	if err := build(ctx, *rebuildBase, *ariPassword, *ha); err != nil {
		fmt.Fprintln(os.Stderr, "compose:", err)
		os.Exit(1)
	}
	if *ha {
		fmt.Println("compose: images ready; start the stack with: docker-compose -p transferd-ha -f docker-compose.ha.yml up")
		return
	}
	fmt.Println("compose: images ready; start the stack with: docker-compose up")
}

func build(ctx context.Context, rebuildBase bool, ariPassword string, ha bool) error {
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
	image := asteriskImage
	if ha {
		spec, image = haAsteriskSpec(spec, installed), haAsteriskImage
	}
	if err := buildAsterisk(ctx, filepath.Join(work, "asterisk"), baseImage, image, spec, logf); err != nil {
		return err
	}
	if ha {
		if err := buildHAProxy(ctx, filepath.Join(work, "haproxy"), baseImage, logf); err != nil {
			return err
		}
	}
	return buildTransferd(ctx, filepath.Join(work, "transferd"), logf)
}

// buildAsterisk builds image: the base image and the configuration spec
// describes (pbxDir in the image).
func buildAsterisk(ctx context.Context, pbx, baseImage, image string, spec sandbox.ConfigSpec, logf func(string, ...any)) error {
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
