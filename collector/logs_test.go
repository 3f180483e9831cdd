package collector

import (
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"
	"k8s.io/klog/v2"
)

// logCapture collects what klog writes while a test runs.
type logCapture struct {
	mu    sync.Mutex
	lines []string
}

// captureLogs routes klog into a logCapture until the test ends. Tests
// that use it must not run in parallel: klog's logger is global.
func captureLogs(t *testing.T) *logCapture {
	c := &logCapture{}
	klog.SetLogger(funcr.New(func(prefix, args string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.lines = append(c.lines, prefix+" "+args)
	}, funcr.Options{Verbosity: 10}))
	t.Cleanup(klog.ClearLogger)
	return c
}

// count returns how many lines contain every one of parts.
func (c *logCapture) count(parts ...string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
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
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}
