package predictor

import (
	"os"
	"testing"

	"github.com/rtcscale/rtcscale/internal/klogtest"
)

// TestMain routes klog through klogtest's tap, once, before any test runs.
func TestMain(m *testing.M) {
	klogtest.Install()
	os.Exit(m.Run())
}
