package whatif

import (
	"fmt"
	"strings"
	"time"
)

// DrainPolicy is one way of scaling down that a run replays: a drain and
// the grace period it runs within.
type DrainPolicy struct {
	Drain Drain
	// Grace is terminationGracePeriodSeconds; 0 for DrainNone, which
	// does not wait for it.
	Grace time.Duration
}

// String is the policy as --drain takes it and the tables show it:
// "none", "sleep=6h", "until-empty=30s".
func (d DrainPolicy) String() string {
	if d.Drain == DrainNone {
		return d.Drain.String()
	}
	return d.Drain.String() + "=" + shortDuration(d.Grace)
}

// policyOf is the policy a fleet replays.
func policyOf(f Fleet) DrainPolicy {
	if f.Drain == DrainNone {
		return DrainPolicy{Drain: DrainNone}
	}
	return DrainPolicy{Drain: f.Drain, Grace: f.Grace}
}

// apply returns f scaling down with d.
func (d DrainPolicy) apply(f Fleet) Fleet {
	f.Drain, f.Grace = d.Drain, d.Grace
	return f
}

// ParseDrains parses a comma-separated list of drain policies, each
// "none", "sleep[=GRACE]" or "until-empty[=GRACE]", GRACE a duration
// ("6h", "30s") and grace where it is left out: "none,sleep=6h,until-empty"
// is three policies.
func ParseDrains(list string, grace time.Duration) ([]DrainPolicy, error) {
	var out []DrainPolicy
	for _, item := range strings.Split(list, ",") {
		d, err := parseDrain(strings.TrimSpace(item), grace)
		if err != nil {
			return nil, fmt.Errorf("drain %q: %w", list, err)
		}
		for _, o := range out {
			if o == d {
				return nil, fmt.Errorf("drain %q: %s is given twice", list, d)
			}
		}
		out = append(out, d)
	}
	return out, nil
}

func parseDrain(item string, grace time.Duration) (DrainPolicy, error) {
	name, g, explicit := strings.Cut(item, "=")
	var d DrainPolicy
	known := false
	for k, n := range drainNames {
		if n == name {
			d.Drain, known = k, true
		}
	}
	switch {
	case !known:
		return d, fmt.Errorf("unknown policy %q (want none, sleep or until-empty, the last two optionally with a grace period: sleep=6h)", name)
	case d.Drain == DrainNone && explicit:
		return d, fmt.Errorf("none takes no grace period (%q): the server exits at SIGTERM and its calls are cut at once", item)
	case d.Drain == DrainNone:
		return d, nil
	case !explicit:
		d.Grace = grace
	default:
		v, err := time.ParseDuration(g)
		if err != nil || v < 0 {
			return d, fmt.Errorf("%s: grace period %q: want a non-negative duration such as 30s or 6h", name, g)
		}
		d.Grace = v
	}
	if d.Grace < 0 {
		return d, fmt.Errorf("%s: negative grace period %s", name, d.Grace)
	}
	return d, nil
}

// shortDuration is d without its zero minutes and seconds: "6h", "1h30m",
// "5m", "30s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}
