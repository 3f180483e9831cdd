package natsconn

import (
	"net/url"
	"strings"
	"testing"
)

func TestDialRejectsConflictingCredentials(t *testing.T) {
	for _, o := range []Options{
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

// FuzzRedactURLs checks that no password given in a NATS URL reaches a log
// line.
func FuzzRedactURLs(f *testing.F) {
	f.Add("rtcscale", "s3cr3t-pa55", "nats-0.nats:4222")
	f.Add("", "token-only", "127.0.0.1:4222")
	f.Fuzz(func(t *testing.T, user, password, host string) {
		u := url.URL{Scheme: "nats", User: url.UserPassword(user, password), Host: host}
		urls := "nats://127.0.0.1:4222," + u.String()
		out := RedactURLs(urls)
		// Only a password that cannot occur in the rest of the line by
		// chance (the other URL, the user and host as escaped in a URL,
		// the placeholders) is checked, and none with a comma: URL
		// escaping leaves a comma as it is, and a server list splits on it
		// (as nats.go does) before any URL is parsed, so such a "password"
		// is the end of one URL and the start of the next.
		masked := url.URL{Scheme: "nats", User: url.UserPassword(user, "xxxxx"), Host: host}
		if len(password) < 6 || strings.Contains(password, ",") || strings.Contains("nats://127.0.0.1:4222,"+masked.String()+user+host+"(unparsable URL)", password) {
			return
		}
		if strings.Contains(out, password) || strings.Contains(out, url.UserPassword("", password).String()[1:]) {
			t.Fatalf("%q redacted to %q: the password shows", urls, out)
		}
	})
}
