package server

import (
	"testing"

	"github.com/rtcscale/rtcscale/internal/klogtest"
)

func TestMain(m *testing.M) { klogtest.Main(m) }
