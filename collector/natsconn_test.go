package collector

import (
	"testing"
	"time"
)

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
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: never happened", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
