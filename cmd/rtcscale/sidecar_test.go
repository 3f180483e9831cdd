package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/rtcscale/rtcscale/sample"
)

func TestSidecarCommand(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server did not start")
	}
	kamailio := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"jsonrpc":"2.0","result":{"dialog.active_dialogs":"12"},"id":1}`))
	}))
	defer kamailio.Close()

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync(sample.Subject(sample.DefaultSubjectPrefix, "voice", sample.KindKamailio, "proxy-0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// The downward API's variables name the pod.
	t.Setenv("POD_NAME", "proxy-0")
	t.Setenv("POD_NAMESPACE", "voice")
	t.Setenv("NODE_NAME", "node-a.example")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runSidecar(ctx, []string{"--source", "kamailio", "--url", kamailio.URL + "/RPC", "--interval", "100ms", "--nats-url", ns.ClientURL()})
	}()
	m, err := sub.NextMsg(30 * time.Second)
	if err != nil {
		t.Fatalf("no sample: %v", err)
	}
	var dec sample.Decoder
	var s sample.Sample
	if r := dec.Decode(m.Data, &s); r != sample.Accepted {
		t.Fatalf("rejected (%s): %s", r.Description(), m.Data)
	}
	if v, _ := s.Gauge(sample.GaugeCalls); v != 12 || s.Node != "node-a.example" || s.Interval != 100*time.Millisecond {
		t.Errorf("sample %s", m.Data)
	}
	// SIGTERM cancels main's context: the command returns cleanly.
	cancel()
	if err := <-done; err != nil {
		t.Errorf("after cancel: %v", err)
	}

	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"--pod", "p", "--namespace", "n"}, "--source is required"},
		{[]string{"--source", "freeswitch", "--pod", "p", "--namespace", "n"}, "no sidecar source"},
		{[]string{"--source", "jvb", "--pod", "P_0", "--namespace", "n"}, "not a DNS label"},
		{[]string{"--source", "jvb", "--pod", "p", "--namespace", "n", "extra"}, "unexpected arguments"},
		{[]string{"--source", "asterisk", "--url", "tcp://127.0.0.1:5038", "--pod", "p", "--namespace", "n"}, "manager user"},
	} {
		if err := runSidecar(context.Background(), c.args); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q: %v, want an error containing %q", c.args, err, c.err)
		}
	}
}
