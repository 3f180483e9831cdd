package collector

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"
	"k8s.io/klog/v2"
)

// TestMain routes klog through logs, once, before any test runs: klog's
// logger is a global that NATS callbacks of earlier tests may still be
// using, so tests tap into it instead of replacing it.
func TestMain(m *testing.M) {
	klog.SetLogger(funcr.New(logs.write, funcr.Options{}))
	os.Exit(m.Run())
}

var logs logTap

// logTap passes log lines to stderr, or to the capture of the test that
// asked for one, or nowhere while quiet.
type logTap struct {
	mu      sync.Mutex
	capture *logCapture
	quiet   bool
}

func (l *logTap) write(prefix, args string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.capture != nil:
		l.capture.lines = append(l.capture.lines, prefix+" "+args)
	case !l.quiet:
		fmt.Fprintln(os.Stderr, prefix, args)
	}
}

func (l *logTap) set(c *logCapture, quiet bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.capture, l.quiet = c, quiet
}

// logCapture holds what klog wrote during a test.
type logCapture struct{ lines []string }

// captureLogs collects klog's lines until the test ends.
func captureLogs(t *testing.T) *logCapture {
	c := &logCapture{}
	logs.set(c, false)
	t.Cleanup(func() { logs.set(nil, false) })
	return c
}

// quietLogs drops klog's lines until the test ends.
func quietLogs(tb testing.TB) {
	logs.set(nil, true)
	tb.Cleanup(func() { logs.set(nil, false) })
}

// count returns how many lines contain every one of parts.
func (c *logCapture) count(parts ...string) int {
	logs.mu.Lock()
	defer logs.mu.Unlock()
	n := 0
next:
	for _, l := range c.lines {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue next
			}
		}
		n++
	}
	return n
}

func (c *logCapture) String() string {
	logs.mu.Lock()
	defer logs.mu.Unlock()
	return strings.Join(c.lines, "\n")
}
