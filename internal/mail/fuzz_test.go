package mail

import (
	"net/url"
	"strings"
	"testing"

	gomail "github.com/wneessen/go-mail"
)

// FuzzParseSMTP holds ParseSMTP to the promises of its comment whatever the
// URL: TLS is off only when the URL says tls=none, mandatory unless the
// host is loopback or the URL asks for less, the credentials the URL
// carries are kept, the port is a TCP port, and no error echoes the
// password.
func FuzzParseSMTP(f *testing.F) {
	for _, s := range []string{
		"smtp://mail.example.com", "smtp://mail.example.com:25", "smtp://u:p%40ss@mail.example.com:465?tls=mandatory",
		"smtp://localhost:1025", "smtp://127.0.0.1?tls=none", "smtp://[::1]:25", "smtp://h?tls=NONE", "smtp://h?tls=Opportunistic",
		"smtp://h?tls=none&tls=mandatory", "smtp://h?TLS=none", "smtp://h:0", "smtp://h:65536", "smtp://h:-1", "smtp://h:+25",
		"smtp://user@h", "smtp://:secret-password@h:bad", "smtp://user:secret-password@", "SMTP://h", "smtps://h", "smtp:///x",
		"smtp://u:secret-password@h?tls=bogus", "smtp://h%00:25", "smtp://LOCALHOST",
	} {
		f.Add(s, "bridge@example.com")
	}
	f.Add("smtp://h", "not an address")
	f.Add("smtp://u:Bridge@h", "Bridge <bridge@example.com>")
	f.Fuzz(func(t *testing.T, raw, from string) {
		s, err := ParseSMTP(raw, from)
		u, uerr := url.Parse(raw)
		var password string
		if uerr == nil && u.User != nil {
			password, _ = u.User.Password()
		}
		if err != nil {
			if s != nil {
				t.Fatalf("ParseSMTP(%q) returned a sender with the error %v", raw, err)
			}
			// The messages are fixed text plus the from address; a
			// password that is neither is the URL's secret leaking.
			if len(password) >= 4 && strings.Contains(err.Error(), password) && !strings.Contains(from, password) &&
				!strings.Contains("SMTP URL: want smtp://[user:password@]host[:port][?tls=mandatory|opportunistic|none] bad port tls must be mandatory, opportunistic or none mail from: is not an email address", password) {
				t.Fatalf("ParseSMTP(%q): error %q holds the password", raw, err)
			}
			return
		}
		if uerr != nil {
			t.Fatalf("ParseSMTP accepted %q, which url.Parse refuses: %v", raw, uerr)
		}
		if s.host == "" || s.host != u.Hostname() {
			t.Fatalf("ParseSMTP(%q): host %q, the URL names %q", raw, s.host, u.Hostname())
		}
		if s.port < 1 || s.port > 65535 {
			t.Fatalf("ParseSMTP(%q): port %d", raw, s.port)
		}
		if u.Port() == "" && s.port != 587 {
			t.Fatalf("ParseSMTP(%q): port %d without a port in the URL, want 587", raw, s.port)
		}
		if s.from != from {
			t.Fatalf("ParseSMTP(%q, %q): from %q", raw, from, s.from)
		}
		asked := strings.ToLower(u.Query().Get("tls"))
		if s.tls == gomail.NoTLS && asked != "none" {
			t.Fatalf("ParseSMTP(%q): TLS off, but the URL asks for tls=%q", raw, asked)
		}
		loopback := s.host == "localhost" || s.host == "127.0.0.1" || s.host == "::1"
		if (asked == "mandatory" || asked == "" && !loopback) && s.tls != gomail.TLSMandatory {
			t.Fatalf("ParseSMTP(%q): TLS policy %v, want mandatory", raw, s.tls)
		}
		if u.User != nil && (s.username != u.User.Username() || s.password != password) {
			t.Fatalf("ParseSMTP(%q): credentials %q/%q, the URL carries %q/%q", raw, s.username, s.password, u.User.Username(), password)
		}
		if u.User == nil && (s.username != "" || s.password != "") {
			t.Fatalf("ParseSMTP(%q): credentials %q/%q from a URL without any", raw, s.username, s.password)
		}
	})
}
