package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// The adapter's --config file is a YAML map from flag names to values, for
// the settings that may change while it runs: the collector's limits and
// staleness, and the external metrics' namespace scope. The adapter
// re-reads it when it changes (server.Reload), so a change needs no
// restart.
//
// Precedence: the file, then the command line, then the flags' defaults.
// A setting removed from the file returns to its command-line value.

// restartOnly are collector flags the file may not set: they decide what
// the adapter subscribes to and registers at start-up.
var restartOnly = []string{"subject-prefix", "enable-external-metrics"}

// loadSettings returns the collector settings of a config file's content
// over those of the command line, refusing any out of its range.
func loadSettings(content []byte, cmdline *pflag.FlagSet) (collectorFlags, error) {
	var cf collectorFlags
	fs := pflag.NewFlagSet("config", pflag.ContinueOnError)
	cf.add(fs)
	var err error
	cmdline.Visit(func(f *pflag.Flag) {
		if err == nil && fs.Lookup(f.Name) != nil {
			err = fs.Set(f.Name, f.Value.String())
		}
	})
	if err != nil {
		return cf, err
	}
	var settings map[string]json.RawMessage
	if err := yaml.UnmarshalStrict(content, &settings); err != nil {
		return cf, fmt.Errorf("want a YAML map of flag names to values: %w", err)
	}
	names := make([]string, 0, len(settings))
	for name := range settings {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if slices.Contains(restartOnly, name) {
			return cf, fmt.Errorf("%s: only the command line sets it (a change needs a restart)", name)
		}
		if fs.Lookup(name) == nil {
			return cf, fmt.Errorf("%s: not a setting the config file can change", name)
		}
		v, err := settingValue(settings[name])
		if err != nil {
			return cf, fmt.Errorf("%s: %w", name, err)
		}
		if err := fs.Set(name, v); err != nil {
			return cf, fmt.Errorf("%s: %w", name, err)
		}
	}
	return cf, cf.validate()
}

// settingValue returns a YAML scalar as a flag value: a string unquoted,
// a number or a boolean as written.
func settingValue(raw json.RawMessage) (string, error) {
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
		return "", errors.New("no value")
	case raw[0] == '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case raw[0] == '{' || raw[0] == '[':
		return "", errors.New("want a single value, not a list or a map")
	}
	return string(raw), nil
}
