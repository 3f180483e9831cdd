package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/rtcscale/rtcscale/internal/klogtest"
)

// runMainEnv makes the test binary run main instead of the tests, so that
// a test sees the command's exit status and output.
const runMainEnv = "RTCSCALE_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	klogtest.Main(m)
}

// runMain runs rtcscale with args as a process and returns its exit code,
// stdout and stderr.
func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("rtcscale %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

func TestNoCommand(t *testing.T) {
	code, _, stderr := runMain(t)
	if code != 2 {
		t.Errorf("rtcscale exited %d, want 2", code)
	}
	for name, c := range commands {
		if !strings.Contains(stderr, "  "+name+" ") || !strings.Contains(stderr, c.summary) {
			t.Errorf("the usage does not list %s with its summary:\n%s", name, stderr)
		}
	}
	if code, _, stderr := runMain(t, "adaptr"); code != 2 || !strings.Contains(stderr, `unknown command "adaptr"`) || !strings.Contains(stderr, "Commands:") {
		t.Errorf("rtcscale adaptr: exit %d, stderr:\n%s", code, stderr)
	}
	if code, stdout, _ := runMain(t, "help"); code != 0 || !strings.Contains(stdout, "Commands:") {
		t.Errorf("rtcscale help: exit %d, stdout:\n%s", code, stdout)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, stdout, stderr := runMain(t, args...)
		// A test binary has no VCS stamp: buildinfo's own test covers it.
		if code != 0 || !regexp.MustCompile(`^rtcscale \S+.*\n$`).MatchString(stdout) {
			t.Errorf("rtcscale %s: exit %d, stdout %q, stderr %q", args[0], code, stdout, stderr)
		}
	}
	if code, _, _ := runMain(t, "version", "extra"); code != 1 {
		t.Errorf("rtcscale version extra: exit %d, want 1", code)
	}
}

// TestHelpSections checks that every command's --help lists its own flags
// before the klog and API server flags it inherits, and exits 0.
func TestHelpSections(t *testing.T) {
	for name, c := range commands {
		if c.raw != nil {
			continue
		}
		var stderr bytes.Buffer
		err := runCommand(context.Background(), name, []string{"--help"}, io.Discard, &stderr)
		if !errors.Is(err, pflag.ErrHelp) {
			t.Errorf("%s --help: %v, want pflag.ErrHelp", name, err)
		}
		help := stderr.String()
		if !strings.HasPrefix(help, "Usage: "+c.synopsis+"\n") {
			t.Errorf("%s --help does not start with its synopsis:\n%s", name, help)
		}
		headings := regexp.MustCompile(`(?m)^(\S.*) flags:$`).FindAllStringSubmatch(help, -1)
		if name == "version" {
			if len(headings) != 0 {
				t.Errorf("version --help lists flags:\n%s", help)
			}
			continue
		}
		if len(headings) == 0 || !strings.EqualFold(headings[0][1], name) {
			t.Errorf("%s --help: first section %v, want the command's own", name, headings)
		}
		inherited := false
		for _, h := range headings {
			switch h[1] {
			case "Logging", "API server":
				inherited = true
			default:
				if inherited {
					t.Errorf("%s --help: its own %s flags come after inherited ones", name, h[1])
				}
			}
		}
	}
	if code, _, stderr := runMain(t, "whatif", "--help"); code != 0 || !strings.Contains(stderr, "--trace string") {
		t.Errorf("rtcscale whatif --help: exit %d, stderr:\n%s", code, stderr)
	}
}
