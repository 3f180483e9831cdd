package main

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rtcscale/rtcscale/internal/natstest"
	"github.com/rtcscale/rtcscale/sample"
)

// runMainEnv makes the test binary run main instead of the tests, so that
// a test can run the command as a process of its own and signal it.
const runMainEnv = "RTCSCALE_SIDECAR_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// sidecarProcess is the command running as its own process, reading a JVB
// on loopback that replays its recorded /colibri/stats reply.
type sidecarProcess struct {
	cmd *exec.Cmd
	// lines receives the process's log lines, then is closed.
	lines chan string
	log   []string
}

func startSidecar(t *testing.T, natsURL string) *sidecarProcess {
	t.Helper()
	stats, err := os.ReadFile("../../sidecar/testdata/jvb-colibri-stats.json")
	if err != nil {
		t.Fatal(err)
	}
	jvb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(stats) }))
	t.Cleanup(jvb.Close)
	cmd := exec.Command(os.Args[0], "--source", "jvb", "--url", jvb.URL+"/colibri/stats", "--interval", "100ms",
		"--nats-url", natsURL, "--metrics-bind-address", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "POD_NAME=jvb-0", "POD_NAMESPACE=meet")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &sidecarProcess{cmd: cmd, lines: make(chan string, 64)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	return p
}

// waitLog waits for a log line containing s.
func (p *sidecarProcess) waitLog(t *testing.T, s string) {
	t.Helper()
	for line := range p.lines {
		p.log = append(p.log, line)
		if strings.Contains(line, s) {
			return
		}
	}
	t.Fatalf("the sidecar exited without logging %q:\n%s", s, strings.Join(p.log, "\n"))
}

// terminate sends SIGTERM, as the kubelet does, and returns the exit code
// and the rest of the log.
func (p *sidecarProcess) terminate(t *testing.T) (int, []string) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for line := range p.lines {
		p.log = append(p.log, line)
	}
	err := p.cmd.Wait()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return p.cmd.ProcessState.ExitCode(), p.log
}

// TestSIGTERM: the kubelet stops the sidecar with SIGTERM, with NATS up or
// away; either way it exits 0 at once, without an error in its log (the
// flush on shutdown used to time out with "nats: timeout" while NATS was
// away, after holding the pod's termination up for 2 s).
func TestSIGTERM(t *testing.T) {
	t.Run("nats up", func(t *testing.T) {
		ns := natstest.Start(t)
		nc := natstest.Connect(t, ns.ClientURL())
		sub, err := nc.SubscribeSync(sample.Subject(sample.DefaultSubjectPrefix, "meet", sample.KindJVB, "jvb-0"))
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		p := startSidecar(t, ns.ClientURL())
		if _, err := sub.NextMsg(30 * time.Second); err != nil {
			t.Fatalf("no sample: %v", err)
		}
		code, log := p.terminate(t)
		if code != 0 {
			t.Errorf("exit code %d", code)
		}
		for _, line := range log {
			if strings.HasPrefix(line, "E") || strings.Contains(line, "nats: timeout") {
				t.Errorf("logged on SIGTERM: %s", line)
			}
		}
	})
	t.Run("nats away", func(t *testing.T) {
		gone := natstest.Start(t)
		gone.Shutdown()
		p := startSidecar(t, gone.ClientURL())
		p.waitLog(t, "Connecting to NATS failed")
		code, log := p.terminate(t)
		if code != 0 {
			t.Errorf("exit code %d", code)
		}
		for _, line := range log {
			if strings.Contains(line, "nats: timeout") || strings.HasPrefix(line, "E") && !strings.Contains(line, "Connecting to NATS failed") {
				t.Errorf("logged on SIGTERM: %s", line)
			}
		}
	})
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"--version", "version"} {
		cmd := exec.Command(os.Args[0], arg)
		cmd.Env = append(os.Environ(), runMainEnv+"=1")
		out, err := cmd.Output()
		// A test binary has no VCS stamp: internal/buildinfo's test covers it.
		if err != nil || !strings.HasPrefix(string(out), "rtcscale-sidecar ") || strings.Count(string(out), "\n") != 1 {
			t.Errorf("rtcscale-sidecar %s: %q, %v", arg, out, err)
		}
	}
}
