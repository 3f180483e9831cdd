package main

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"

	"github.com/rtcscale/rtcscale/collector"
)

// A flag's value outside its range is refused at start-up, with the range:
// the packages behind the flags read a zero or negative setting as "use the
// default", so a typo such as --stale-after=-1 would otherwise run with a
// value the operator never asked for.

// check is one flag's value and whether it lies in its range.
type check struct {
	flag  string
	value any
	ok    bool
	// want says the range, as the error gives it.
	want string
}

// checkFlags returns every failed check as one error.
func checkFlags(checks ...check) error {
	var errs []error
	for _, c := range checks {
		if !c.ok {
			errs = append(errs, fmt.Errorf("--%s=%v: want %s", c.flag, c.value, c.want))
		}
	}
	return errors.Join(errs...)
}

// maxStreamReplicas is the most replicas JetStream gives a stream.
const maxStreamReplicas = 5

func (c *collectorFlags) validate() error {
	s := c.store
	return checkFlags(
		check{"subject-prefix", c.subjectPrefix, validSubjectPrefix(c.subjectPrefix), "dot-separated NATS subject tokens without spaces or wildcards"},
		// NaN fails the comparison as well.
		check{"stale-after", s.StaleAfter, s.StaleAfter > 0 && !math.IsInf(s.StaleAfter, 0), "a number of publish intervals above 0"},
		check{"max-clock-skew", s.MaxFuture, s.MaxFuture > 0, "a duration above 0"},
		check{"max-series", s.MaxSeries, s.MaxSeries >= 1, "at least 1"},
		check{"max-series-per-namespace", s.MaxSeriesPerNamespace, s.MaxSeriesPerNamespace >= 1, "at least 1"},
		check{"max-gauge-names", s.MaxGaugeNames, s.MaxGaugeNames >= 1 && s.MaxGaugeNames <= collector.GaugeNamesLimit, fmt.Sprintf("1 to %d", collector.GaugeNamesLimit)},
		check{"startup-grace", s.StartupGrace, s.StartupGrace > 0, "a duration above 0"},
	)
}

func (w *warmFlags) validate() error {
	return checkFlags(
		check{"warm-restart-stream", w.cfg.Stream, validStreamName(w.cfg.Stream), "a JetStream stream name (no spaces, '.', '*', '>', '/' or '\\'), or empty for off"},
		check{"warm-restart-replicas", w.cfg.Replicas, w.cfg.Replicas >= 1 && w.cfg.Replicas <= maxStreamReplicas, fmt.Sprintf("1 to %d", maxStreamReplicas)},
		check{"warm-restart-timeout", w.timeout, w.timeout > 0, "a duration above 0"},
	)
}

func (f *forecastFlags) validate() error {
	return checkFlags(
		check{"forecast-max-series", f.live.MaxSeries, f.live.MaxSeries >= 1, "at least 1"},
		check{"history-replicas", f.store.Replicas, f.store.Replicas >= 1 && f.store.Replicas <= maxStreamReplicas, fmt.Sprintf("1 to %d", maxStreamReplicas)},
	)
}

// validSubjectPrefix says whether p is a NATS subject of literal tokens.
func validSubjectPrefix(p string) bool {
	for _, tok := range strings.Split(p, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return false
		}
	}
	return true
}

// validStreamName says whether s is a JetStream stream name, or empty.
func validStreamName(s string) bool { return !strings.ContainsAny(s, " \t\r\n.*>/\\") }

// validAddress says whether a is host:port with a port number, as
// net.Listen takes it; the host may be empty (every interface).
func validAddress(a string) bool {
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return false
	}
	_, err = strconv.ParseUint(port, 10, 16)
	return err == nil
}
