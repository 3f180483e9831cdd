package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBacktestCommand(t *testing.T) {
	// Three weeks of a daily shape at a 10-minute step, written as a trace.
	var csv strings.Builder
	csv.WriteString("timestamp,value\n")
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 21 * 144 {
		ts := t0.Add(time.Duration(i) * 10 * time.Minute)
		v := 100 + 80*math.Sin(2*math.Pi*float64(i%144)/144)
		fmt.Fprintf(&csv, "%s,%.3f\n", ts.Format("2006-01-02 15:04:05"), v)
	}
	file := filepath.Join(t.TempDir(), "daily.csv")
	if err := os.WriteFile(file, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runCommand(context.Background(), "backtest", []string{"--trace", file, "--horizon", "1h,24h", "--holdout", "120h"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"periodicity daily", "holdout 120h0m0s", "chosen", "24h0m0s ahead: would pick",
		"baseline persistence", "baseline seasonal-naive-1d", "baseline seasonal-naive-7d", "baseline profile-x-level",
		"1h0m0s ahead: the chosen model's WAPE is"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := runCommand(context.Background(), "backtest", []string{"--trace", file, "--horizon", "1h", "--holdout", "25%"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "holdout 126h0m0s") {
		t.Fatalf("--holdout 25%%: %v\n%s", err, out.String())
	}
	for _, args := range [][]string{
		{},
		{"--trace", file, "--horizon", "soon"},
		{"--trace", file, "--horizon", "-1h"},
		{"--trace", filepath.Join(t.TempDir(), "missing.csv")},
		{"--trace", file, "extra"},
		{"--trace", file, "--holdout", "40%"},
		{"--trace", file, "--holdout", "soon"},
	} {
		if err := runCommand(context.Background(), "backtest", args, &bytes.Buffer{}, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	for arg, want := range map[string]string{
		"--step=-1m":      "--step=-1m0s: want a duration, or 0",
		"--refit=0s":      "--refit=0s: want a duration above 0",
		"--under-cost=-2": "--under-cost=-2: want a number",
	} {
		if err := runCommand(context.Background(), "backtest", []string{"--trace", file, arg}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error containing %q", arg, err, want)
		}
	}
}
