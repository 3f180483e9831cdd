package framework

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
)

// Binaries are the paths of the control-plane executables the suite runs.
type Binaries struct {
	Etcd                  string
	KubeAPIServer         string
	KubeControllerManager string
}

// toolBuild is a module pinned in a tools module (e2e/tools, or a module
// under it) whose version keys a cache folder (<name>-<version>), and the
// main packages built from it.
type toolBuild struct {
	name string
	// toolsDir is the tools module that pins modulePath, relative to the
	// repository root.
	toolsDir   string
	modulePath string
	binaries   []binary
	// ldflags returns the linker flags for this module version (e.g. the
	// version stamp Kubernetes binaries report).
	ldflags func(m moduleInfo) string
}

type binary struct{ name, pkg string }

// controlPlaneBuilds are the binaries of every environment.
var controlPlaneBuilds = []toolBuild{
	{
		name:       "kubernetes",
		toolsDir:   "e2e/tools",
		modulePath: "k8s.io/kubernetes",
		binaries: []binary{
			{"kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver"},
			{"kube-controller-manager", "k8s.io/kubernetes/cmd/kube-controller-manager"},
		},
		ldflags: kubernetesLDFlags,
	},
	{
		name:       "etcd",
		toolsDir:   "e2e/tools",
		modulePath: "go.etcd.io/etcd/server/v3",
		binaries:   []binary{{"etcd", "go.etcd.io/etcd/server/v3"}},
	},
}

type moduleInfo struct {
	Path    string
	Version string
	// Dir is the module's source in the module cache, when it has been
	// downloaded (it has once its binaries are built).
	Dir string
}

// kubernetesLDFlags stamps the version the way Kubernetes' own build does
// (hack/lib/version.sh), so that /version and `kubectl version` report the
// pinned release rather than v0.0.0-master.
func kubernetesLDFlags(m moduleInfo) string {
	const pkg = "k8s.io/component-base/version"
	var major, minor, patch int
	if _, err := fmt.Sscanf(m.Version, "v%d.%d.%d", &major, &minor, &patch); err != nil {
		return "-s -w"
	}
	return fmt.Sprintf("-s -w -X %[1]s.gitVersion=%[2]s -X %[1]s.gitMajor=%[3]d -X %[1]s.gitMinor=%[4]d -X %[1]s.gitTreeState=clean",
		pkg, m.Version, major, minor)
}

// RepoRoot returns the root of the rtcscale checkout containing dir: the
// closest ancestor that holds e2e/tools/go.mod.
func RepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "e2e", "tools", "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no rtcscale checkout (with e2e/tools/go.mod) at or above %s", dir)
		}
	}
}

// CacheDir is where built binaries are kept: $RTCSCALE_E2E_CACHE, or
// <repo>/.cache/e2e (git-ignored).
func CacheDir(repoRoot string) string {
	if d := os.Getenv("RTCSCALE_E2E_CACHE"); d != "" {
		return d
	}
	return filepath.Join(repoRoot, ".cache", "e2e")
}

// EnsureBinaries returns the pinned control-plane binaries, building any that
// are not yet in the cache. Builds go through the Go module proxy and take
// several minutes the first time; progress is written to log. Concurrent
// callers (several test processes) serialize on a lock file, so each version
// is built once.
func EnsureBinaries(ctx context.Context, repoRoot string, log io.Writer) (Binaries, error) {
	builds, err := ensure(ctx, repoRoot, controlPlaneBuilds, log)
	if err != nil {
		return Binaries{}, err
	}
	k8s, etcd := builds["kubernetes"].dir, builds["etcd"].dir
	return Binaries{
		Etcd:                  filepath.Join(etcd, "etcd"),
		KubeAPIServer:         filepath.Join(k8s, "kube-apiserver"),
		KubeControllerManager: filepath.Join(k8s, "kube-controller-manager"),
	}, nil
}

// BinariesCached reports whether EnsureBinaries would find every binary in
// the cache, without building.
func BinariesCached(ctx context.Context, repoRoot string) bool {
	return cached(ctx, repoRoot, controlPlaneBuilds)
}

// ensure returns tools resolved by name, building any whose binaries are
// not yet in the cache. Every caller, whatever its tools, takes the one
// lock of the cache folder: two processes never build the same version, and
// builds never compete with each other for the CPU.
func ensure(ctx context.Context, repoRoot string, tools []toolBuild, log io.Writer) (map[string]resolvedBuild, error) {
	builds, err := resolve(ctx, repoRoot, tools)
	if err != nil {
		return nil, err
	}
	unlock, err := lockFile(filepath.Join(filepath.Dir(builds[0].dir), ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	byName := make(map[string]resolvedBuild, len(builds))
	for _, b := range builds {
		byName[b.name] = b
		if complete(b.dir, b.binaries) {
			continue
		}
		if err := build(ctx, filepath.Join(repoRoot, b.toolsDir), b, log); err != nil {
			return nil, err
		}
	}
	return byName, nil
}

// cached reports whether ensure would find every binary of tools in the
// cache, without building.
func cached(ctx context.Context, repoRoot string, tools []toolBuild) bool {
	builds, err := resolve(ctx, repoRoot, tools)
	if err != nil {
		return false
	}
	for _, b := range builds {
		if !complete(b.dir, b.binaries) {
			return false
		}
	}
	return true
}

// resolvedBuild is a toolBuild at the version its tools module pins, with
// its cache folder.
type resolvedBuild struct {
	toolBuild
	info moduleInfo
	dir  string
}

func resolve(ctx context.Context, repoRoot string, tools []toolBuild) ([]resolvedBuild, error) {
	cache := filepath.Join(CacheDir(repoRoot), runtime.GOOS+"_"+runtime.GOARCH)
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	var builds []resolvedBuild
	for _, b := range tools {
		m, err := toolModule(ctx, filepath.Join(repoRoot, b.toolsDir), b.modulePath)
		if err != nil {
			return nil, err
		}
		builds = append(builds, resolvedBuild{toolBuild: b, info: m, dir: filepath.Join(cache, b.name+"-"+m.Version)})
	}
	return builds, nil
}

func complete(dir string, binaries []binary) bool {
	for _, b := range binaries {
		if fi, err := os.Stat(filepath.Join(dir, b.name)); err != nil || !fi.Mode().IsRegular() {
			return false
		}
	}
	return true
}

func toolModule(ctx context.Context, toolsDir, module string) (moduleInfo, error) {
	var m moduleInfo
	cmd := goCommand(ctx, toolsDir, "list", "-m", "-json", module)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return m, fmt.Errorf("go list -m %s in %s: %v: %s", module, toolsDir, err, stderr.Bytes())
	}
	if err := json.Unmarshal(out, &m); err != nil {
		return m, fmt.Errorf("go list -m %s: %w", module, err)
	}
	if m.Version == "" {
		return m, fmt.Errorf("go list -m %s: no version (is it required in %s/go.mod?)", module, toolsDir)
	}
	return m, nil
}

// moduleSource returns m's folder in the module cache, downloading the
// module if the binaries came from the cache and the source did not.
func moduleSource(ctx context.Context, toolsDir string, m moduleInfo) (string, error) {
	if m.Dir != "" {
		return m.Dir, nil
	}
	cmd := goCommand(ctx, toolsDir, "mod", "download", "-json", m.Path+"@"+m.Version)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %v: %s", m.Path, m.Version, err, stderr.Bytes())
	}
	var d struct{ Dir string }
	if err := json.Unmarshal(out, &d); err != nil || d.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: no folder in %q (%v)", m.Path, m.Version, out, err)
	}
	return d.Dir, nil
}

// build compiles b's binaries into a temporary folder next to dir and renames
// it into place, so an interrupted build never leaves a partial cache entry.
func build(ctx context.Context, toolsDir string, b resolvedBuild, log io.Writer) error {
	m, dir := b.info, b.dir
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, bin := range b.binaries {
		args := []string{"build", "-trimpath", "-o", filepath.Join(tmp, bin.name)}
		if b.ldflags != nil {
			args = append(args, "-ldflags", b.ldflags(m))
		}
		args = append(args, bin.pkg)
		fmt.Fprintf(log, "e2e: building %s from %s %s (first run only; several minutes)\n", bin.name, b.modulePath, m.Version)
		cmd := goCommand(ctx, toolsDir, args...)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building %s from %s %s (go %v in %s): %w", bin.name, b.modulePath, m.Version, args, toolsDir, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// goCommand runs the go command in dir. It dies with this process: a test
// binary killed for its -timeout must not leave a build running behind it.
func goCommand(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// lockFile takes an exclusive advisory lock on path, waiting for other
// holders.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
