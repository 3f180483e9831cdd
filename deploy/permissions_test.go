package deploy

import (
	"cmp"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats-server/v2/conf"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/rtcscale/rtcscale/internal/natstest"
	"github.com/rtcscale/rtcscale/predictor"
	"github.com/rtcscale/rtcscale/sample"
)

// natsPermissions are a NATS user's allowed subjects.
type natsPermissions struct{ Publish, Subscribe []string }

// adapterNeeds are the NATS permissions an adapter run with args needs:
// the samples; with forecasts, predictor.StoreConfig.Permissions; with a
// warm restart, the same JetStream API of its stream, whose ordered
// consumer filters on the samples (collector.EnsureWarmStream, WarmLoad:
// collector.TestSecureNATS runs them under deploy/nats/accounts.conf).
func adapterNeeds(args []string) natsPermissions {
	flags := flagArgs(args)
	prefix := cmp.Or(flags["subject-prefix"], sample.DefaultSubjectPrefix)
	var p natsPermissions
	if flags["forecast"] != "false" {
		p.Publish, p.Subscribe = predictor.StoreConfig{Stream: flags["history-stream"], Subject: flags["history-subject"]}.Permissions()
	}
	if s := flags["warm-restart-stream"]; s != "" {
		const api = "$JS.API."
		p.Publish = append(p.Publish, api+"STREAM.INFO."+s, api+"STREAM.CREATE."+s, api+"STREAM.UPDATE."+s,
			api+"CONSUMER.CREATE."+s+".*."+prefix+".>", api+"CONSUMER.MSG.NEXT."+s+".*", api+"CONSUMER.DELETE."+s+".*")
		p.Subscribe = []string{"_INBOX.>"} // its replies and messages, as the history's
	}
	p.Subscribe = append([]string{prefix + ".>"}, p.Subscribe...)
	return p
}

// chartNotes renders the notes `helm install` prints.
func chartNotes(t *testing.T, values string) string {
	t.Helper()
	files, err := renderFiles(chartDir, "rtcscale", namespace, values)
	if err != nil {
		t.Fatal(err)
	}
	return files["rtcscale/templates/NOTES.txt"]
}

// notesPermissions reads the nats-server permissions block and the nsc
// command of the notes.
func notesPermissions(t *testing.T, notes string) (server, nsc natsPermissions) {
	t.Helper()
	start := strings.Index(notes, "  permissions: {")
	end := strings.Index(notes[max(start, 0):], "\n  }\n")
	if start < 0 || end < 0 {
		t.Fatalf("no permissions block in the notes:\n%s", notes)
	}
	m, err := conf.Parse(notes[start : start+end+4])
	if err != nil {
		t.Fatalf("the notes' permissions block is not a nats-server configuration: %v\n%s", err, notes)
	}
	server = permissionsOf(t, m["permissions"])
	cmd := regexp.MustCompile(`nsc add user --account ACCOUNT rtcscale-adapter .*`).FindString(notes)
	if cmd == "" {
		t.Fatalf("no nsc command in the notes:\n%s", notes)
	}
	return server, nscPermissions(cmd)
}

// permissionsOf reads {publish: {allow: [...]}, subscribe: {allow: [...]}}
// as the nats-server configuration parser returns it.
func permissionsOf(t *testing.T, v any) natsPermissions {
	t.Helper()
	allow := func(key string) []string {
		m, _ := v.(map[string]any)[key].(map[string]any)
		var out []string
		list, _ := m["allow"].([]any)
		for _, s := range list {
			out = append(out, s.(string))
		}
		return out
	}
	return natsPermissions{Publish: allow("publish"), Subscribe: allow("subscribe")}
}

// nscPermissions reads the subjects of an nsc command's --allow-pub and
// --allow-sub flags, each a comma-separated list and given any number of
// times.
func nscPermissions(cmd string) natsPermissions {
	var p natsPermissions
	for _, m := range regexp.MustCompile(`--allow-(pub|sub) '([^']*)'`).FindAllStringSubmatch(cmd, -1) {
		if m[1] == "pub" {
			p.Publish = append(p.Publish, strings.Split(m[2], ",")...)
		} else {
			p.Subscribe = append(p.Subscribe, strings.Split(m[2], ",")...)
		}
	}
	return p
}

// accountsConfAdapter reads the adapter user's permissions from
// deploy/nats/accounts.conf.
func accountsConfAdapter(t *testing.T) natsPermissions {
	t.Helper()
	// The file takes keys and paths from the environment; any value will
	// do for reading it.
	for _, v := range []string{"NATS_TLS_CERT", "NATS_TLS_KEY", "NATS_STORE"} {
		t.Setenv("RTCSCALE_"+v, "unused")
	}
	for _, u := range natstest.AccountUsers {
		t.Setenv("RTCSCALE_"+u+"_NKEY", u)
	}
	m, err := conf.ParseFile("nats/accounts.conf")
	if err != nil {
		t.Fatal(err)
	}
	users, _ := m["accounts"].(map[string]any)["RTCSCALE"].(map[string]any)["users"].([]any)
	for _, u := range users {
		if u := u.(map[string]any); u["nkey"] == "ADAPTER" {
			return permissionsOf(t, u["permissions"])
		}
	}
	t.Fatal("accounts.conf has no adapter user")
	return natsPermissions{}
}

// TestNATSPermissions: the permissions the chart prints after an install
// (NOTES.txt, as a nats-server block and as an nsc command) are exactly
// what the adapter it installs needs, for each of its options;
// deploy/nats/accounts.conf grants exactly what the kustomize installs
// need, base and warm restart together (and predictor's and collector's
// tests run their NATS code under that file); docs/install.md's nsc
// command is the base's.
func TestNATSPermissions(t *testing.T) {
	adapterArgs := func(objs []object) []string {
		return container(t, get[*appsv1.Deployment](t, objs, "Deployment", namespace, name)).Args
	}
	allOptions, err := os.ReadFile("helm/rtcscale/ci/all-options-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, values, wantPublish string }{
		{"defaults", "", "$JS.API.STREAM.UPDATE.RTCSCALE_HISTORY"},
		{"all options", string(allOptions), "$JS.API.CONSUMER.CREATE.RTCSCALE_LATEST.*.tenant-a.load.v1.>"},
		{"history elsewhere", `forecast: {historyStream: H, historySubject: tenant-b.h}`, "tenant-b.h.>"},
		{"no forecasts", `forecast: {enabled: false}`, ""},
		{"warm restart only", `{forecast: {enabled: false}, warmRestart: {stream: LATEST}}`, "$JS.API.STREAM.INFO.LATEST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := adapterNeeds(adapterArgs(mustRender(t, tc.values)))
			if (tc.wantPublish == "") != (len(want.Publish) == 0) || tc.wantPublish != "" && !slices.Contains(want.Publish, tc.wantPublish) {
				t.Fatalf("the adapter needs %+v; the case expects %q among the publishes", want, tc.wantPublish)
			}
			notes := chartNotes(t, tc.values)
			server, nsc := notesPermissions(t, notes)
			if diff := gocmp.Diff(want, server); diff != "" {
				t.Errorf("the notes' nats-server permissions (-needed +printed):\n%s\n%s", diff, notes)
			}
			if len(want.Publish) == 0 {
				want.Publish = nil // nsc denies every publish instead
				if !strings.Contains(notes, "publish: {deny: [\">\"]") || !strings.Contains(notes, "--deny-pub '>'") {
					t.Errorf("nothing to publish, but the notes do not deny it:\n%s", notes)
				}
			}
			if diff := gocmp.Diff(want, nsc); diff != "" {
				t.Errorf("the notes' nsc command (-needed +printed):\n%s\n%s", diff, notes)
			}
		})
	}

	base := adapterNeeds(adapterArgs(mustBuild(t, "overlays/cert-manager", nil)))
	warm := adapterNeeds(adapterArgs(mustBuild(t, "overlays/all", map[string]string{"overlays/all/kustomization.yaml": allComponents})))
	granted := accountsConfAdapter(t)
	if diff := gocmp.Diff(warm, granted); diff != "" {
		t.Errorf("deploy/nats/accounts.conf (-kustomize with a warm restart needs +granted):\n%s", diff)
	}
	for _, p := range base.Publish {
		if !slices.Contains(warm.Publish, p) {
			t.Errorf("the kustomize base needs publish on %s, which the warm restart's install lacks", p)
		}
	}

	doc, err := os.ReadFile("../docs/install.md")
	if err != nil {
		t.Fatal(err)
	}
	cmd := regexp.MustCompile(`nsc add user --account RTC rtcscale-adapter(?: \\\n[^\n\\]*[^\n\\ ])*`).FindString(string(doc))
	if diff := gocmp.Diff(base, nscPermissions(cmd)); cmd == "" || diff != "" {
		t.Errorf("docs/install.md's nsc command for the adapter (-kustomize base needs +documented):\n%s\n%s", diff, cmd)
	}
}
