package main

import (
	"os/exec"
	"strings"
	"testing"
)

// allowedDeps are the module paths the sidecar binary may link: a package
// outside them (client-go, the apiserver, the embedded NATS server, the
// plotting code) is what made the sidecar 111 MiB and 60 MiB of RSS when it
// was the whole rtcscale binary (docs/benchmarks.md).
var allowedDeps = []string{
	"github.com/rtcscale/rtcscale/cmd/rtcscale-sidecar",
	"github.com/rtcscale/rtcscale/sidecar",
	"github.com/rtcscale/rtcscale/sample",
	"github.com/rtcscale/rtcscale/internal/buildinfo",
	"github.com/rtcscale/rtcscale/internal/klogflags",
	"github.com/rtcscale/rtcscale/internal/natsconn",
	"github.com/rtcscale/rtcscale/internal/ops",
	"github.com/nats-io/nats.go", "github.com/nats-io/nkeys", "github.com/nats-io/nuid", "github.com/klauspost/compress",
	"k8s.io/klog/v2", "github.com/go-logr/logr",
	"github.com/spf13/pflag",
	"github.com/prometheus/client_golang", "github.com/prometheus/client_model", "github.com/prometheus/common", "github.com/prometheus/procfs",
	"github.com/beorn7/perks", "github.com/cespare/xxhash/v2", "github.com/munnerz/goautoneg", "google.golang.org/protobuf",
	"golang.org/x/sys", "golang.org/x/crypto",
}

func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		allowed := false
		for _, a := range allowedDeps {
			if pkg == a || strings.HasPrefix(pkg, a+"/") {
				allowed = true
				break
			}
		}
		if !allowed {
			t.Errorf("the sidecar binary links %s: keep it to the sidecar's own dependencies", pkg)
		}
	}
}
