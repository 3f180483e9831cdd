package collector

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rtcscale/rtcscale/internal/natstest"
)

// TestConnectionStateIsReported stops and restarts the NATS server under a
// connected collector: the connection gauge (and readiness, which reads the
// same connection) follows, and the collector reconnects on its own.
func TestConnectionStateIsReported(t *testing.T) {
	srv := natstest.Start(t)
	port := srv.Addr().(*net.TCPAddr).Port
	m := NewMetrics(prometheus.NewRegistry())
	nc, err := Dial(NATSOptions{URL: srv.ClientURL(), Name: "test"}, m)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := testutil.ToFloat64(m.natsUp); got != 1 || !nc.IsConnected() {
		t.Fatalf("connected gauge %v", got)
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	waitFor(t, "disconnect reported", func() bool { return testutil.ToFloat64(m.natsUp) == 0 && !nc.IsConnected() })

	// The same port again: the client finds it.
	natstest.Start(t, func(o *server.Options) { o.Port = port })
	waitFor(t, "reconnect", func() bool { return testutil.ToFloat64(m.natsUp) == 1 && nc.IsConnected() })
	if got := testutil.ToFloat64(m.reconnects); got != 1 {
		t.Fatalf("reconnects %v", got)
	}
}

func TestDialRejectsConflictingCredentials(t *testing.T) {
	for _, o := range []NATSOptions{
		{URL: "nats://127.0.0.1:1", Creds: "a", NKey: "b"},
		{URL: "nats://127.0.0.1:1", User: "u", NKey: "b"},
		{URL: "nats://127.0.0.1:1", TLSCert: "c"},
		{},
	} {
		if _, err := Dial(o, nil); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: never happened", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
