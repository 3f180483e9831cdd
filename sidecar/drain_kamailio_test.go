package sidecar

import (
	"testing"

	"github.com/rtcscale/rtcscale/sample"
)

// Kamailio has no drain state to set (see kamailio): a drain flow must not
// find one to call.
func TestKamailioIsNotADrainer(t *testing.T) {
	src, err := New(sample.KindKamailio, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.(Drainer); ok {
		t.Error("the Kamailio source is a Drainer")
	}
}
