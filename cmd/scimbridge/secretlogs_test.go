package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/scimbridge/scimbridge/internal/pgcluster"
)

// A full run of serve at debug level, with every secret-bearing flow an
// operator, an IdP, a Git host and a browser go through, leaves none of
// the secrets it minted or was sent in any log: serve's, the CLI's, or
// the embedded PostgreSQL server's. Logs are kept and shipped; a secret
// in them is a secret handed to whoever reads them.
func TestNoSecretReachesAnyLog(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	var seen secretSet
	var refuseToken atomic.Bool
	idp := startRecordingIdP(t, &seen, &refuseToken)
	// PostgreSQL logs every statement with its parameters, as an operator
	// chasing slow queries has it (log_min_duration_statement): a secret
	// may reach the database only as its digest or sealed. serve reuses
	// this cluster, and stops it at shutdown.
	cl, err := pgcluster.Start(context.Background(), pgcluster.Options{DataDir: dir, Settings: map[string]string{
		"log_min_duration_statement": "0", "log_parameter_max_length": "-1", "log_parameter_max_length_on_error": "-1",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Stop(context.Background()) })
	// JSON for serve (and the CLI below writes text): both handlers
	// must keep secrets out, and both are what operators ship.
	rs := startServe(t, nil, "--data-dir", dir, "--init-org", "acme", "--log-level", "debug", "--allow-private-networks")
	initToken := rs.initOrgToken(t)
	seen.add("SCIM token printed by --init-org", initToken)

	var cliLog syncBuffer // the CLI's stderr, and stdout where it is not a secret
	cli := func(secretOut bool, args ...string) string {
		t.Helper()
		var out syncBuffer
		all := append(args, "--data-dir", dir, "--log-level", "debug", "--log-format", "text")
		if err := run(context.Background(), all, func(string) string { return "" }, &out, &cliLog); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if !secretOut {
			cliLog.Write([]byte(out.String()))
		}
		return strings.TrimSpace(out.String())
	}
	scimToken := cli(true, "token", "create", "--org", "acme", "--name", "okta")
	seen.add("SCIM token (token create)", scimToken)
	apiToken := cli(true, "apitoken", "create", "--org", "acme", "--owner", "break-glass-owner", "--name", "platform")
	seen.add("API token (apitoken create)", apiToken)
	hookSecret := cli(true, "webhook", "secret", "--org", "acme", "--provider", "github")
	seen.add("webhook secret", hookSecret)
	invitation := cli(false, "invite", "new@acme.example", "--org", "acme")
	secretFile := filepath.Join(filepath.Dir(dir), "client-secret")
	if err := os.WriteFile(secretFile, []byte(idp.ClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	seen.add("IdP client secret", idp.ClientSecret)
	cli(false, "idp", "set", "--org", "acme", "--issuer", idp.Issuer(), "--client-id", idp.ClientID,
		"--client-secret-file", secretFile, "--allow-private-networks")
	bgLink := cli(true, "breakglass", "--org", "acme", "--public-url", rs.base)
	bgURL, err := url.Parse(bgLink)
	if err != nil {
		t.Fatal(err)
	}
	seen.add("break-glass link token", bgURL.Query().Get("token"))
	if key, err := os.ReadFile(filepath.Join(dir, "secret.key")); err == nil {
		seen.add("secret key file", strings.TrimSpace(string(key)))
	} else {
		t.Fatal(err)
	}

	// SCIM, as Okta drives it: a placeholder password on create and a
	// password change by PATCH, with the init token and the CLI's one.
	badSCIM := "scb_scim_" + strings.Repeat("Zq3", 15)
	seen.add("unknown SCIM token (a typo of a real one)", badSCIM)
	password, newPassword := "pw-"+randomish(), "pw-"+randomish()
	seen.add("SCIM password on create", password)
	seen.add("SCIM password by PATCH", newPassword)
	scimURL := rs.base + "/scim/v2/acme"
	expect(t, "SCIM list with the --init-org token", call(t, nil, "GET", scimURL+"/Users", bearer(initToken), ""), 200)
	body := expect(t, "SCIM create with a password", call(t, nil, "POST", scimURL+"/Users", bearer(scimToken), `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
		"userName":"kate@acme.example","name":{"givenName":"Kate","familyName":"Smith"},"emails":[{"value":"kate@acme.example","primary":true,"type":"work"}],
		"externalId":"00ukate","groups":[],"password":"`+password+`","active":true}`), 201)
	var kate struct{ ID string }
	_ = json.Unmarshal([]byte(body), &kate)
	expect(t, "SCIM password change by PATCH", call(t, nil, "PATCH", scimURL+"/Users/"+kate.ID, bearer(scimToken),
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"password":"`+newPassword+`"}}]}`), 200, 204)
	expect(t, "SCIM with an unknown token", call(t, nil, "GET", scimURL+"/Users", bearer(badSCIM), ""), 401)
	expect(t, "SCIM with a token of another kind", call(t, nil, "GET", scimURL+"/Users", bearer(apiToken), ""), 401)

	// The admin API with the CLI's token, and with a wrong one.
	badAPI := "scb_api_" + strings.Repeat("Xk7", 15)
	seen.add("unknown API token", badAPI)
	expect(t, "API with the CLI's token", call(t, nil, "GET", rs.base+"/api/v1/orgs/acme/users", bearer(apiToken), ""), 200)
	expect(t, "API with an unknown token", call(t, nil, "GET", rs.base+"/api/v1/orgs/acme/users", bearer(badAPI), ""), 401)

	// The operator API: an operator token creates an organization, whose
	// answer carries a SCIM token and a break-glass link, and deletes it;
	// an unknown operator token is refused.
	opToken := cli(true, "operator-token", "create", "--name", "platform")
	seen.add("operator token (operator-token create)", opToken)
	badOp := "scb_op_" + strings.Repeat("Tn4", 14) + "T"
	seen.add("unknown operator token", badOp)
	expect(t, "operator API with an unknown token", call(t, nil, "GET", rs.base+"/api/v1/orgs", bearer(badOp), ""), 401)
	opJSON := bearer(opToken)
	opJSON.Set("Content-Type", "application/json")
	var provisioned struct {
		SCIMToken      struct{ Token string }
		BreakGlassLink struct{ URL string }
	}
	body = expect(t, "create an organization over the operator API", call(t, nil, "POST", rs.base+"/api/v1/orgs", opJSON, `{"slug":"globex"}`), 201)
	if err := json.Unmarshal([]byte(body), &provisioned); err != nil {
		t.Fatal(err)
	}
	seen.add("SCIM token (operator API)", provisioned.SCIMToken.Token)
	if u, err := url.Parse(provisioned.BreakGlassLink.URL); err == nil {
		seen.add("break-glass link token (operator API)", u.Query().Get("token"))
	} else {
		t.Fatal(err)
	}
	expect(t, "SCIM with the operator API's SCIM token", call(t, nil, "GET", rs.base+"/scim/v2/globex/Users", bearer(provisioned.SCIMToken.Token), ""), 200)
	expect(t, "a slug taken", call(t, nil, "POST", rs.base+"/api/v1/orgs", opJSON, `{"slug":"globex"}`), 409)
	expect(t, "delete the organization", call(t, nil, "DELETE", rs.base+"/api/v1/orgs/globex?confirm=globex", bearer(opToken), ""), 204)

	// Break-glass: the link opened, spent, refused a second time; the
	// session and its CSRF token then mint more secrets over the API.
	owner := newBrowser(t, &seen)
	expect(t, "open the break-glass link", call(t, owner, "GET", bgLink, nil, ""), 200)
	expect(t, "spend the break-glass link", call(t, owner, "POST", rs.base+"/auth/acme/breakglass", form, url.Values{"token": {bgURL.Query().Get("token")}}.Encode()), 200)
	expect(t, "spend it again", call(t, nil, "POST", rs.base+"/auth/acme/breakglass", form, url.Values{"token": {bgURL.Query().Get("token")}}.Encode()), 401)
	csrf := meCSRF(t, owner, rs.base, &seen)
	api := rs.base + "/api/v1/orgs/acme"
	expect(t, "API as the break-glass session", call(t, owner, "GET", api+"/users", nil, ""), 200)
	expect(t, "API write without the CSRF token", call(t, owner, "POST", api+"/service-accounts", jsonBody, `{"name":"robot"}`), 403)
	robot := jsonField(t, expect(t, "create a service account", call(t, owner, "POST", api+"/service-accounts", csrfJSON(csrf), `{"name":"robot","description":"ci"}`), 201), "id")
	body = expect(t, "mint an API token over the API", call(t, owner, "POST", api+"/api-tokens", csrfJSON(csrf), `{"name":"robot-ci","owner":"robot","expiresIn":"30d"}`), 201)
	robotToken := jsonField(t, body, "token")
	seen.add("API token (admin API)", robotToken)
	body = expect(t, "mint a SCIM token over the API", call(t, owner, "POST", api+"/scim-tokens", csrfJSON(csrf), `{"name":"entra","expiresIn":"30d"}`), 201)
	entraToken := jsonField(t, body, "token")
	seen.add("SCIM token (admin API)", entraToken)
	expect(t, "set the IdP over the API, with its client secret", call(t, owner, "PUT", api+"/idp", csrfJSON(csrf),
		fmt.Sprintf(`{"issuer":%q,"clientId":%q,"clientSecret":%q}`, idp.Issuer(), idp.ClientID, idp.ClientSecret)), 200)
	// A statement that fails in PostgreSQL (a name taken) while a new
	// token's digest is among its parameters: the server logs the error
	// and the statement, never the parameters.
	expect(t, "a SCIM token name taken", call(t, owner, "POST", api+"/scim-tokens", csrfJSON(csrf), `{"name":"entra","expiresIn":"30d"}`), 409)
	expect(t, "invite over the API", call(t, owner, "POST", api+"/invitations", csrfJSON(csrf), `{"email":"other@acme.example"}`), 201)
	expect(t, "API with the minted API token", call(t, nil, "GET", api+"/users/"+robot+"/permissions", bearer(robotToken), ""), 200)
	expect(t, "SCIM with the minted SCIM token", call(t, nil, "GET", scimURL+"/Groups", bearer(entraToken), ""), 200)
	badSession := "scb_ses_" + strings.Repeat("Wm5", 15)
	seen.add("unknown session id", badSession)
	expect(t, "an unknown session", call(t, nil, "GET", rs.base+"/auth/acme/me", http.Header{"Cookie": {"scb_session_acme=" + badSession}}, ""), 401)

	// OIDC: Kate, provisioned by SCIM, signs in through the IdP (state,
	// nonce, PKCE verifier, code, IdP tokens, session), uses the session
	// and its CSRF token, and signs out.
	idp.QueueUser(&mockoidc.MockUser{Subject: "okta-kate", Email: "kate@acme.example", EmailVerified: true})
	kateB := newBrowser(t, &seen)
	expect(t, "OIDC login lands on the console", call(t, kateB, "GET", rs.base+"/auth/acme/login", nil, ""), 200)
	kateCSRF := meCSRF(t, kateB, rs.base, &seen)
	expect(t, "a session write with its CSRF token", call(t, kateB, "POST", api+"/authorize", csrfJSON(kateCSRF),
		`{"user":"`+kate.ID+`","action":"pipes.run","workspace":"none"}`), 200)
	expect(t, "sign out", call(t, kateB, "POST", rs.base+"/auth/acme/logout", form, url.Values{"csrf_token": {kateCSRF}}.Encode()), 200)
	// A code the IdP refuses at the exchange: serve logs why, while the
	// code, the verifier and the client secret are in flight.
	refuseToken.Store(true)
	idp.QueueUser(&mockoidc.MockUser{Subject: "okta-kate", Email: "kate@acme.example", EmailVerified: true})
	expect(t, "a login whose code the IdP refuses", call(t, newBrowser(t, &seen), "GET", rs.base+"/auth/acme/login", nil, ""), 400)
	refuseToken.Store(false)
	if !strings.Contains(rs.stderr.String(), "OIDC code exchange") {
		t.Errorf("serve did not log the refused code exchange:\n%s", rs.stderr.String())
	}

	// A signed push from GitHub, and one signed with another secret.
	push, err := os.ReadFile("../../internal/githook/testdata/github-push.json")
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "signed push", call(t, nil, "POST", rs.base+"/hooks/acme/github", githubHeaders(hookSecret, push, "72d3162e-cc78-11e3-81ab-4c9367dc0958"), string(push)), 200)
	wrongHook := "scb_whk_" + strings.Repeat("Vb2", 15)
	seen.add("wrong webhook secret", wrongHook)
	expect(t, "push signed with another secret", call(t, nil, "POST", rs.base+"/hooks/acme/github", githubHeaders(wrongHook, push, "72d3162e-cc78-11e3-81ab-4c9367dc0959"), string(push)), 401, 403)

	// Invitations: no SMTP, so serve logs each mail as not sent (never its
	// link); the CLI prints a link, which the invitee accepts at the IdP.
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(rs.stderr.String(), "invitation mail not sent") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("serve logged no 'invitation mail not sent' for both invitations:\n%s", rs.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	joinLink := cli(true, "invite", "link", invitation, "--org", "acme", "--public-url", rs.base)
	joinURL, err := url.Parse(joinLink)
	if err != nil {
		t.Fatal(err)
	}
	seen.add("invitation token (invite link)", joinURL.Query().Get("token"))
	badInvite := "scb_inv_" + strings.Repeat("Ty8", 15)
	seen.add("unknown invitation token", badInvite)
	expect(t, "an unknown join link", call(t, nil, "GET", rs.base+"/invite/accept?token="+badInvite, nil, ""), 404)
	idp.QueueUser(&mockoidc.MockUser{Subject: "okta-new", Email: "new@acme.example", EmailVerified: true})
	newB := newBrowser(t, &seen)
	expect(t, "accept the invitation at the IdP", call(t, newB, "GET", joinLink, nil, ""), 200)
	meCSRF(t, newB, rs.base, &seen)
	expect(t, "the spent join link", call(t, nil, "GET", joinLink, nil, ""), 404, 410)

	// Everything is written: stop serve (and its PostgreSQL) first.
	if err := rs.stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if got := rs.stdout.String(); got != initToken+"\n" {
		t.Errorf("serve's stdout holds more than the --init-org token: %d bytes", len(got))
	}
	logs := map[string]string{
		"serve stderr (json, debug)":                      rs.stderr.String(),
		"CLI stderr (text, debug) and non-secret stdouts": cliLog.String(),
	}
	pgLogs := 0
	for _, sub := range []string{"run", "pg/log", "pg/pg_log"} {
		_ = filepath.WalkDir(filepath.Join(dir, sub), func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() || strings.HasSuffix(p, ".pid") || strings.Contains(filepath.Base(p), ".s.PGSQL") {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Errorf("read PostgreSQL log %s: %v", p, err)
				return nil
			}
			logs["PostgreSQL "+strings.TrimPrefix(p, dir+"/")] = string(b)
			pgLogs++
			return nil
		})
	}
	if pg := logs["PostgreSQL run/postgres.log"]; !strings.Contains(pg, "parameters: $1 = ") || !strings.Contains(pg, "ERROR:  duplicate key") {
		t.Errorf("the PostgreSQL log under %s/run (%d files) lacks statements with their parameters, or the failed one:\n%.2000s", dir, pgLogs, pg)
	}
	// The checks must not be vacuous: the logs are there, at debug, and
	// every flow above gave up its secrets.
	if !strings.Contains(logs["serve stderr (json, debug)"], `"level":"DEBUG"`) || strings.Count(logs["serve stderr (json, debug)"], `"msg":"request"`) < 20 {
		t.Errorf("serve's log lacks debug lines or request lines:\n%s", logs["serve stderr (json, debug)"])
	}
	for _, want := range []string{"cookie scb_session_acme", "cookie scb_oidc_state", "OIDC state", "OIDC nonce", "OIDC PKCE verifier",
		"OIDC authorization code", "IdP access_token", "IdP id_token", "CSRF token", "invitation token (login state)"} {
		if !seen.has(want) {
			t.Errorf("the flows gave no %s: the test no longer covers it", want)
		}
	}
	size := 0
	for _, l := range logs {
		size += len(l)
	}
	t.Logf("searched %d logs (%d bytes) for %d secrets", len(logs), size, len(seen.all()))
	leaks := findLeaks(logs, seen.all())
	for i, leak := range leaks {
		if i == 20 {
			t.Errorf("… and %d more lines with secrets", len(leaks)-i)
			break
		}
		t.Error(leak)
	}
}

// secretSet collects the secrets of a run, from the test and from the
// IdP's goroutines.
type secretSet struct {
	mu   sync.Mutex
	list []secretValue
}

type secretValue struct{ what, value string }

func (s *secretSet) add(what, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append(s.list, secretValue{what, value})
}

func (s *secretSet) has(what string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.list {
		if v.what == what && v.value != "" {
			return true
		}
	}
	return false
}

func (s *secretSet) all() []secretValue {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]secretValue(nil), s.list...)
}

// secretShape matches a scimbridge secret by its prefix, so that one the
// test never saw (a join link minted for a mail not sent) is found too.
var secretShape = regexp.MustCompile(`scb_(scim|api|inv|ses|brk|whk)_[A-Za-z0-9_-]{16,}`)

// findLeaks names each secret found in a log and its line, with every
// secret in the line cut to its first characters.
func findLeaks(logs map[string]string, secrets []secretValue) []string {
	var leaks []string
	var search []secretValue // the forms of each distinct value, named by its first finder
	known := map[string]bool{}
	for _, s := range secrets {
		if len(s.value) < 12 {
			leaks = append(leaks, fmt.Sprintf("%s: %q is too short to search for", s.what, s.value))
			continue
		}
		for _, f := range forms(s.value) {
			if !known[f] {
				known[f] = true
				search = append(search, secretValue{s.what, f})
			}
		}
	}
	names := make([]string, 0, len(logs))
	for n := range logs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		for i, line := range strings.Split(logs[name], "\n") {
			var found, what []string
			seenWhat := map[string]bool{}
			for _, s := range search {
				if strings.Contains(line, s.value) {
					found = append(found, s.value)
					if !seenWhat[s.what] {
						seenWhat[s.what] = true
						what = append(what, "the "+s.what)
					}
				}
			}
			for _, m := range secretShape.FindAllString(line, -1) {
				found = append(found, m)
				if !known[m] {
					what = append(what, "a secret of shape "+m[:strings.LastIndex(m[:9], "_")+1])
				}
			}
			if len(found) > 0 {
				leaks = append(leaks, fmt.Sprintf("%s, line %d, carries %s: %s", name, i+1, strings.Join(what, ", "), redact(line, found)))
			}
		}
	}
	return leaks
}

// forms are the ways a log could spell a secret: as is, its random part
// without the scb_…_ prefix, URL-escaped, JSON-escaped.
func forms(v string) []string {
	out := []string{v}
	if strings.HasPrefix(v, "scb_") {
		if i := strings.Index(v[4:], "_"); i >= 0 {
			out = append(out, v[4+i+1:])
		}
	}
	out = append(out, url.QueryEscape(v))
	j, _ := json.Marshal(v)
	out = append(out, strings.Trim(string(j), `"`))
	return out
}

func redact(line string, secrets []string) string {
	// Longest first, so that a secret inside another is cut with it.
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	for _, s := range secrets {
		line = strings.ReplaceAll(line, s, s[:min(6, len(s)/4)]+"…[redacted]")
	}
	if len(line) > 400 {
		line = line[:400] + "…"
	}
	return line
}

// startRecordingIdP runs an OpenID Provider on loopback that adds the
// tokens it hands out to seen, and refuses code exchanges while refuse
// is set.
func startRecordingIdP(t *testing.T, seen *secretSet, refuse *atomic.Bool) *mockoidc.MockOIDC {
	t.Helper()
	idp, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = idp.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != mockoidc.TokenEndpoint {
				next.ServeHTTP(w, r)
				return
			}
			if refuse.Load() {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"error":"invalid_grant","error_description":"The authorization code is invalid or has expired."}`)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			var tr map[string]any
			if json.Unmarshal(rec.Body.Bytes(), &tr) == nil {
				for _, k := range []string{"access_token", "refresh_token", "id_token"} {
					if v, ok := tr[k].(string); ok {
						seen.add("IdP "+k, v)
					}
				}
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
		})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := idp.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idp.Shutdown() })
	return idp
}

// newBrowser is a cookie-keeping client that adds to seen every cookie
// set, and the OAuth parameters of every redirect it follows.
func newBrowser(t *testing.T, seen *secretSet) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: recordingTransport{seen}}
}

type recordingTransport struct{ seen *secretSet }

func (rt recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	for _, c := range resp.Cookies() {
		if c.Value == "" {
			continue
		}
		rt.seen.add("cookie "+c.Name, c.Value)
		if c.Name == "scb_oidc_state" {
			rt.addLoginState(c.Value)
		}
	}
	if loc, err := resp.Location(); err == nil {
		q := loc.Query()
		for k, what := range map[string]string{"state": "OIDC state", "nonce": "OIDC nonce", "code": "OIDC authorization code"} {
			if v := q.Get(k); v != "" {
				rt.seen.add(what, v)
			}
		}
	}
	return resp, nil
}

// addLoginState reads the secrets of the login in flight out of the
// state cookie (signed, not encrypted).
func (rt recordingTransport) addLoginState(v string) {
	payload, _, _ := strings.Cut(v, ".")
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return
	}
	var st struct{ S, N, V, J string }
	if json.Unmarshal(b, &st) != nil {
		return
	}
	for what, v := range map[string]string{"OIDC state": st.S, "OIDC nonce": st.N, "OIDC PKCE verifier": st.V, "invitation token (login state)": st.J} {
		if v != "" {
			rt.seen.add(what, v)
		}
	}
}

var (
	form     = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	jsonBody = http.Header{"Content-Type": {"application/json"}}
)

// csrfJSON are the headers of a session's JSON write.
func csrfJSON(token string) http.Header {
	return http.Header{"Content-Type": {"application/json"}, "X-Csrf-Token": {token}}
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

func githubHeaders(secret string, body []byte, delivery string) http.Header {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return http.Header{"X-Github-Event": {"push"}, "X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(mac.Sum(nil))},
		"X-Github-Delivery": {delivery}, "Content-Type": {"application/json"}}
}

// reply is a response's status and body.
type reply struct {
	code int
	body string
}

// call sends one request; c nil is a fresh client without cookies.
func call(t *testing.T, c *http.Client, method, u string, h http.Header, body string) reply {
	t.Helper()
	if c == nil {
		c = &http.Client{Timeout: 20 * time.Second}
	}
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if strings.Contains(u, "/scim/v2/") && body != "" {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b)}
}

// expect fails unless the reply's status is one of want, and returns its body.
func expect(t *testing.T, what string, r reply, want ...int) string {
	t.Helper()
	for _, w := range want {
		if r.code == w {
			return r.body
		}
	}
	t.Fatalf("%s: status %d, want %v: %.500s", what, r.code, want, r.body)
	return ""
}

func jsonField(t *testing.T, body, field string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	s, _ := m[field].(string)
	return s
}

// meCSRF checks that the browser is signed in and adds its CSRF token.
func meCSRF(t *testing.T, c *http.Client, base string, seen *secretSet) string {
	t.Helper()
	body := expect(t, "GET /auth/acme/me", call(t, c, "GET", base+"/auth/acme/me", nil, ""), 200)
	tok := jsonField(t, body, "csrfToken")
	seen.add("CSRF token", tok)
	return tok
}

func randomish() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// The matcher behind TestNoSecretReachesAnyLog finds a secret however a
// log spells it, and never prints it whole.
func TestFindLeaksSpotsEverySpelling(t *testing.T) {
	t.Parallel()
	tok := "scb_api_" + randomish()
	key := "a+b/c=d&e<f>" + randomish()
	secrets := []secretValue{{"API token", tok}, {"key", key}}
	cases := []struct {
		name, line string
		leak       bool
	}{
		{"as is, JSON handler", `{"msg":"auth","token":"` + tok + `"}`, true},
		{"random part only", "msg=auth token=" + strings.TrimPrefix(tok, "scb_api_"), true},
		{"URL-escaped in a query", "path=/x?k=" + url.QueryEscape(key), true},
		{"JSON-escaped", func() string { b, _ := json.Marshal(map[string]string{"k": key}); return string(b) }(), true},
		{"slog's JSON handler", slogLine(func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, nil) }, key), true},
		{"slog's text handler", slogLine(func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) }, key), true},
		{"a secret the test never saw, by its shape", "token=scb_ses_" + randomish(), true},
		{"a digest or a name", `msg="created SCIM token" org=acme name=okta hash=\x04569910963ba0`, false},
	}
	for _, c := range cases {
		leaks := findLeaks(map[string]string{"log": c.line}, secrets)
		if (len(leaks) > 0) != c.leak {
			t.Errorf("%s: leaks %q, want a leak: %v", c.name, leaks, c.leak)
		}
		for _, l := range leaks {
			if strings.Contains(l, tok) || strings.Contains(l, key) || strings.Contains(l, strings.TrimPrefix(tok, "scb_api_")) {
				t.Errorf("%s: the report shows the secret: %s", c.name, l)
			}
		}
	}
}

func slogLine(h func(io.Writer) slog.Handler, v string) string {
	var b strings.Builder
	slog.New(h(&b)).Info("x", "k", v)
	return b.String()
}
