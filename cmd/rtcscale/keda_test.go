package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestKEDAScalerFlags: the scaler refuses at start-up to serve without a
// certificate unless plaintext is asked for, and TLS flags without it.
func TestKEDAScalerFlags(t *testing.T) {
	for args, want := range map[string]string{
		"": "",
		"--keda-scaler-bind-address=:9443 --keda-scaler-insecure-plaintext":                                                                   "",
		"--keda-scaler-bind-address=:9443 --keda-scaler-tls-cert-file=c --keda-scaler-tls-private-key-file=k":                                 "",
		"--keda-scaler-bind-address=:9443 --keda-scaler-tls-cert-file=c --keda-scaler-tls-private-key-file=k --keda-scaler-client-ca-file=ca": "",
		"--keda-scaler-bind-address=:9443":                                                                  "a serving certificate and key are required, or plaintext must be asked for explicitly",
		"--keda-scaler-bind-address=:9443 --keda-scaler-tls-cert-file=c":                                    "a serving certificate and key are required",
		"--keda-scaler-bind-address=:9443 --keda-scaler-insecure-plaintext --keda-scaler-client-ca-file=ca": "plaintext takes no certificate, key or client CA",
		"--keda-scaler-bind-address=9443 --keda-scaler-insecure-plaintext":                                  "--keda-scaler-bind-address=9443: want host:port",
		"--keda-scaler-bind-address=:9443 --keda-scaler-insecure-plaintext --keda-scaler-check-interval=0":  "--keda-scaler-check-interval=0s: want a duration above 0",
		"--keda-scaler-tls-cert-file=c --keda-scaler-tls-private-key-file=k":                                "need --keda-scaler-bind-address",
	} {
		var k kedaFlags
		fs := pflag.NewFlagSet("adapter", pflag.ContinueOnError)
		k.add(fs)
		if err := fs.Parse(strings.Fields(args)); err != nil {
			t.Fatal(err)
		}
		err := k.validate()
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%q: %v, want %q", args, err, want)
		}
	}
}
