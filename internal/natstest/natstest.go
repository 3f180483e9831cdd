// Package natstest runs a real NATS server in the test process, on
// loopback, for tests that need one: rtcscale's tests never mock NATS.
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Start runs a NATS server on a free loopback port until the test ends.
// configure, if given, adjusts its options (JetStream, a fixed port, a
// store directory) before it starts.
func Start(t testing.TB, configure ...func(*server.Options)) *server.Server {
	t.Helper()
	srv := launch(t, configure...)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server did not become ready")
	}
	return srv
}

// launch starts a server without waiting for its client listener: a
// clustered JetStream server opens it only once its cluster is up.
func launch(t testing.TB, configure ...func(*server.Options)) *server.Server {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true}
	for _, c := range configure {
		c(opts)
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	srv.Start()
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

// JetStream enables JetStream, storing in dir.
func JetStream(dir string) func(*server.Options) {
	return func(o *server.Options) {
		o.JetStream = true
		o.StoreDir = dir
	}
}

// Connect connects to url; the connection closes when the test ends.
func Connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connecting to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}
