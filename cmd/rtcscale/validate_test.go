package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	cliflag "k8s.io/component-base/cli/flag"
)

// validators return a command's flags and the check of their values.
var validators = map[string]func() (cliflag.NamedFlagSets, func(*pflag.FlagSet) error){
	"adapter": func() (cliflag.NamedFlagSets, func(*pflag.FlagSet) error) {
		o := &adapterOptions{}
		return o.flags(), o.validate
	},
	"demo": func() (cliflag.NamedFlagSets, func(*pflag.FlagSet) error) {
		o := &demoOptions{}
		return o.flags(), o.validate
	},
}

func validateArgs(t *testing.T, command string, args ...string) error {
	t.Helper()
	fss, validate := validators[command]()
	fs := flagSet(command, "", fss, io.Discard)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("%s %s: %v", command, strings.Join(args, " "), err)
	}
	return validate(fs)
}

func TestDefaultsAreValid(t *testing.T) {
	for command := range validators {
		if err := validateArgs(t, command); err != nil {
			t.Errorf("%s with its defaults: %v", command, err)
		}
	}
}

func TestRefusedFlagValues(t *testing.T) {
	collector := []struct{ arg, want string }{
		{"--stale-after=-1", "--stale-after=-1: want a number of publish intervals above 0"},
		{"--stale-after=0", "--stale-after=0: want"},
		{"--stale-after=NaN", "--stale-after=NaN: want"},
		{"--stale-after=+Inf", "--stale-after=+Inf: want"},
		{"--max-clock-skew=-1s", "--max-clock-skew=-1s: want a duration above 0"},
		{"--max-series=0", "--max-series=0: want at least 1"},
		{"--max-series-per-namespace=-5", "--max-series-per-namespace=-5: want at least 1"},
		{"--max-gauge-names=0", "--max-gauge-names=0: want 1 to 65535"},
		{"--max-gauge-names=65536", "--max-gauge-names=65536: want 1 to 65535"},
		{"--startup-grace=-30s", "--startup-grace=-30s: want a duration above 0"},
		{"--subject-prefix=rtcscale..load", "--subject-prefix=rtcscale..load: want dot-separated NATS subject tokens"},
		{"--subject-prefix=rtcscale.>", "--subject-prefix=rtcscale.>: want"},
		{"--subject-prefix=", "--subject-prefix=: want"},
	}
	type refusal struct{ command, arg, want string }
	var cases []refusal
	for _, c := range collector {
		cases = append(cases, refusal{"adapter", c.arg, c.want}, refusal{"demo", c.arg, c.want})
	}
	cases = append(cases,
		refusal{"adapter", "--metrics-bind-address=9090", "--metrics-bind-address=9090: want host:port"},
		refusal{"adapter", "--metrics-bind-address=:99999", "--metrics-bind-address=:99999: want host:port"},
		refusal{"adapter", "--nats-ping-interval=0s", "--nats-ping-interval=0s: want a duration above 0"},
		refusal{"adapter", "--warm-restart-stream=rtcscale.latest", "--warm-restart-stream=rtcscale.latest: want a JetStream stream name"},
		refusal{"adapter", "--warm-restart-replicas=0", "--warm-restart-replicas=0: want 1 to 5"},
		refusal{"adapter", "--warm-restart-replicas=7", "--warm-restart-replicas=7: want 1 to 5"},
		refusal{"adapter", "--warm-restart-timeout=-1s", "--warm-restart-timeout=-1s: want a duration above 0"},
		refusal{"adapter", "--forecast-max-series=-1", "--forecast-max-series=-1: want at least 1"},
		refusal{"adapter", "--history-replicas=6", "--history-replicas=6: want 1 to 5"},
		refusal{"adapter", "--pod-deletion-cost-selector=bad===(", "--pod-deletion-cost-selector=bad===(:"},
		refusal{"adapter", "--pod-deletion-cost-gauge=Calls", "--pod-deletion-cost-gauge=Calls: want a gauge name"},
		refusal{"adapter", "--pod-deletion-cost-interval=0s", "--pod-deletion-cost-interval=0s: want a duration above 0"},
		refusal{"adapter", "--pod-deletion-cost-max-patches=0", "--pod-deletion-cost-max-patches=0: want at least 1"},
		refusal{"demo", "--listen=localhost", "--listen=localhost: want host:port"},
		refusal{"demo", "--metrics-bind-address=127.0.0.1:http", "--metrics-bind-address=127.0.0.1:http: want host:port"},
		refusal{"demo", "--nats-port=-1", "--nats-port=-1: want 0 to 65535"},
		refusal{"demo", "--nats-port=65536", "--nats-port=65536: want 0 to 65535"},
		refusal{"demo", "--interval=-2s", "--interval=-2s: want a duration above 0"},
		refusal{"demo", "--day=0s", "--day=0s: want a duration above 0"},
	)
	for _, c := range cases {
		err := validateArgs(t, c.command, c.arg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: error %v, want one containing %q", c.command, c.arg, err, c.want)
		}
	}
}

// TestRefusedBeforeStart checks that the commands refuse a value before
// they start anything: no apiserver or NATS is reached here.
func TestRefusedBeforeStart(t *testing.T) {
	for _, command := range []string{"adapter", "demo"} {
		err := runCommand(context.Background(), command, []string{"--stale-after=-1", "--max-series=0"}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--stale-after=-1") || !strings.Contains(err.Error(), "--max-series=0") {
			t.Errorf("%s --stale-after=-1 --max-series=0: %v, want both refused", command, err)
		}
	}
}
