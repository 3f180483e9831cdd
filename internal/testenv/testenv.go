// Package testenv finds the real programs that tests drive.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// LookPath finds the program name, which the Debian package pkg installs.
// Without it the test is skipped, except in CI (CI set, as CI services and
// .ci/run do), where a test that could not run its real part must fail
// instead of passing unseen.
func LookPath(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed (apt-get install -y %s), and CI must run this test", name, pkg)
	}
	t.Skipf("%s is not installed (apt-get install -y %s); skipping", name, pkg)
	return ""
}
