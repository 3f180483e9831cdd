//go:build linux

package exepages_test

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/rtcscale/rtcscale/internal/exepages"
	_ "github.com/rtcscale/rtcscale/internal/exepages/startup"
)

// TestMain also runs this test binary as if it were `rtcscale adapter` or
// `rtcscale whatif`, as TestStartupDropsPagesForTheAdapterOnly does: it
// then prints how many pages of its executable the page cache holds once
// package startup's init has run, and exits.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && (os.Args[1] == "adapter" || os.Args[1] == "whatif") {
		cached, _, err := exepages.CachedPages()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(cached)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestStartupDropsPagesForTheAdapterOnly(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// All of the file in the page cache, as after an ordinary start.
	if _, err := os.ReadFile(exe); err != nil {
		t.Fatal(err)
	}
	cachedAfter := func(command string) int {
		out, err := exec.Command(exe, command).Output()
		if err != nil {
			t.Fatalf("%s %s: %v", exe, command, err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(out)))
		if err != nil {
			t.Fatalf("%s %s printed %q", exe, command, out)
		}
		return n
	}
	whatif := cachedAfter("whatif")
	adapter := cachedAfter("adapter")
	if adapter >= whatif {
		t.Errorf("%d pages of the executable cached after the adapter's initializers, %d after whatif's: the adapter dropped none", adapter, whatif)
	}
	t.Logf("pages cached after the initializers: adapter %d, whatif %d", adapter, whatif)
}
