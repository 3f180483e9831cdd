package adapter

import (
	"testing"

	"github.com/rtcscale/rtcscale/internal/klogtest"
)

// TestMain routes klog through klogtest's tap, so that a test can check
// what the API server library logs.
func TestMain(m *testing.M) { klogtest.Main(m) }
