// Package klogtest captures what klog writes, for tests that check what is
// logged (once per cause, never a secret).
//
// klog's logger is a global that NATS callbacks of earlier tests may still
// be using, so a test package routes klog through a tap once, from its
// TestMain (Install), and each test captures from the tap instead of
// replacing the logger.
package klogtest

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"
	"k8s.io/klog/v2"
)

// Install routes klog through the tap. Call it once, from TestMain (Main
// does).
func Install() { klog.SetLogger(funcr.New(tap.write, funcr.Options{})) }

var tap logTap

// logTap passes log lines to stderr, or to the capture of the test that
// asked for one, or nowhere while quiet.
type logTap struct {
	mu      sync.Mutex
	capture *Lines
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

func (l *logTap) set(c *Lines, quiet bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.capture, l.quiet = c, quiet
}

// Lines holds what klog wrote during a test.
type Lines struct{ lines []string }

// Capture collects klog's lines until the test ends.
func Capture(tb testing.TB) *Lines {
	c := &Lines{}
	tap.set(c, false)
	tb.Cleanup(func() { tap.set(nil, false) })
	return c
}

// Quiet drops klog's lines until the test ends.
func Quiet(tb testing.TB) {
	tap.set(nil, true)
	tb.Cleanup(func() { tap.set(nil, false) })
}

// Count returns how many lines contain every one of parts.
func (c *Lines) Count(parts ...string) int {
	tap.mu.Lock()
	defer tap.mu.Unlock()
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

func (c *Lines) String() string {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	return strings.Join(c.lines, "\n")
}

// Main is a test package's TestMain: it installs the tap, then runs the
// tests.
func Main(m *testing.M) {
	Install()
	os.Exit(m.Run())
}
