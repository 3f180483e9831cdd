package predictor

import (
	"testing"

	"github.com/rtcscale/rtcscale/internal/klogtest"
)

// TestMain routes klog through klogtest's tap before any test runs.
func TestMain(m *testing.M) { klogtest.Main(m) }
