package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestDeletionCostNamespaces: --pod-deletion-cost-namespaces runs one
// controller per namespace, so that a Role in each is enough, and refuses
// a list that names no namespace or one twice.
func TestDeletionCostNamespaces(t *testing.T) {
	for args, want := range map[string]string{
		"--pod-deletion-cost-namespaces=voice,video":  "",
		"--pod-deletion-cost-namespaces=voice,,video": `"" is not a namespace name`,
		"--pod-deletion-cost-namespaces=Voice":        `"Voice" is not a namespace name`,
		"--pod-deletion-cost-namespaces=voice,voice":  "voice is listed twice",
	} {
		var d drainFlags
		fs := pflag.NewFlagSet("adapter", pflag.ContinueOnError)
		d.add(fs)
		if err := fs.Parse([]string{"--pod-deletion-cost", args}); err != nil {
			t.Fatal(err)
		}
		err := d.validate()
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
		if err == nil {
			if got := d.config().Namespaces; !slices.Equal(got, []string{"voice", "video"}) {
				t.Errorf("%s: controllers for %q, want voice and video", args, got)
			}
		}
	}
}
