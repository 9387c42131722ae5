package githook_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/githook"
)

var update = flag.Bool("update", false, "rewrite the golden testdata/*.want.json files")

type parser func([]byte) ([]directory.GitObservation, error)

var (
	parseGitHub parser = githook.ParseGitHubPush
	parseGitLab parser = githook.ParseGitLabPush
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func marshal(t testing.TB, obs []directory.GitObservation) []byte {
	t.Helper()
	b, err := json.MarshalIndent(obs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func TestParsersMatchGoldenFiles(t *testing.T) {
	t.Parallel()
	cases := []struct {
		fixture string
		parse   parser
	}{
		{"github-push.json", parseGitHub},
		{"github-push-noreply.json", parseGitHub},
		{"github-push-tag-created.json", parseGitHub},
		{"github-push-tag-deleted.json", parseGitHub},
		{"gitlab-push.json", parseGitLab},
		{"gitlab-push-redacted-email.json", parseGitLab},
		{"gitlab-tag-push.json", parseGitLab},
	}
	for _, c := range cases {
		t.Run(c.fixture, func(t *testing.T) {
			t.Parallel()
			obs, err := c.parse(readFixture(t, c.fixture))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			for i, o := range obs {
				if err := o.Validate(); err != nil {
					t.Errorf("observation %d does not validate: %v", i, err)
				}
			}
			got := marshal(t, obs)
			golden := filepath.Join("testdata", strings.TrimSuffix(c.fixture, ".json")+".want.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("observations differ from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

// Facts the golden files hold, spelled out so a careless -update cannot
// bless a regression.
func TestGitHubPushFacts(t *testing.T) {
	t.Parallel()
	obs, err := githook.ParseGitHubPush(readFixture(t, "github-push.json"))
	if err != nil {
		t.Fatal(err)
	}
	var roles []string
	for _, o := range obs {
		if o.Provider != "github" || o.Repo != "Codertocat/Hello-World" {
			t.Errorf("provider/repo = %s %s", o.Provider, o.Repo)
		}
		roles = append(roles, o.Role+":"+o.Login)
	}
	// Three commits: the web-flow committer of the second is recorded, the
	// committer of the third only differs by the case of the address and
	// so is the author; head_commit is the third, already listed.
	want := "author:monalisa author:Codertocat committer:web-flow author:monalisa pusher:Codertocat"
	if got := strings.Join(roles, " "); got != want {
		t.Errorf("roles = %s\nwant    %s", got, want)
	}
	if at := obs[1].At.Format("2006-01-02T15:04:05Z07:00"); at != "2019-05-16T08:01:44Z" {
		t.Errorf("commit time = %s, want it in UTC", at)
	}
	if p := obs[len(obs)-1]; p.SHA != "" || p.At.Unix() != 1557933657 || p.Email != "21031067+Codertocat@users.noreply.github.com" {
		t.Errorf("pusher = %+v", p)
	}
}

func TestGitHubHeadCommitIsReportedWhenCommitsIsEmpty(t *testing.T) {
	t.Parallel()
	obs, err := githook.ParseGitHubPush(readFixture(t, "github-push-tag-created.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(obs) != 2 || obs[0].Role != "author" || obs[0].SHA != "6113728f27ae82c7b1a177c8d03f9e96e0adf246" || obs[1].Role != "pusher" {
		t.Fatalf("got %+v, want the head commit's author then the pusher", obs)
	}
	obs, err = githook.ParseGitHubPush(readFixture(t, "github-push-tag-deleted.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(obs) != 1 || obs[0].Role != "pusher" {
		t.Fatalf("a deleted tag (head_commit null) names its pusher only, got %+v", obs)
	}
}

func TestGitLabRedactedEmailIsNoEmail(t *testing.T) {
	t.Parallel()
	obs, err := githook.ParseGitLabPush(readFixture(t, "gitlab-push-redacted-email.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range obs {
		if strings.Contains(o.Email, "REDACTED") {
			t.Errorf("kept %q as an email", o.Email)
		}
		if o.Name == "Jordi Mallach" {
			t.Errorf("an author with neither email nor login was recorded: %+v", o)
		}
	}
	if p := obs[len(obs)-1]; p.Role != "pusher" || p.Login != "jsmith" || p.Email != "" {
		t.Errorf("pusher = %+v, want login jsmith and no email", p)
	}
}

func TestParseGitHubPushRefusesAPing(t *testing.T) {
	t.Parallel()
	if _, err := githook.ParseGitHubPush(readFixture(t, "github-ping.json")); !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("ping body: err = %v, want ErrInvalid", err)
	}
}

func TestGitHubEvent(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"push": githook.KindPush, "ping": githook.KindPing, " push ": githook.KindPush,
		"": githook.KindOther, "Push": githook.KindOther, "pull_request": githook.KindOther, "create": githook.KindOther,
	}
	for header, want := range cases {
		if got := githook.GitHubEvent(header); got != want {
			t.Errorf("GitHubEvent(%q) = %q, want %q", header, got, want)
		}
	}
}

func TestGitLabEvent(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"Push Hook": githook.KindPush, "Tag Push Hook": githook.KindPush,
		"": githook.KindOther, "push hook": githook.KindOther, "System Hook": githook.KindOther,
		"Merge Request Hook": githook.KindOther, "Pipeline Hook": githook.KindOther,
	}
	for header, want := range cases {
		if got := githook.GitLabEvent(header); got != want {
			t.Errorf("GitLabEvent(%q) = %q, want %q", header, got, want)
		}
	}
}

const sha1 = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"

// js is s as a JSON string.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func ghCommit(id, name, email, user string) string {
	return fmt.Sprintf(`{"id":%s,"timestamp":"2019-05-15T15:19:25Z","author":{"name":%s,"email":%s,"username":%s},"committer":{"name":%s,"email":%s,"username":%s}}`,
		js(id), js(name), js(email), js(user), js(name), js(email), js(user))
}

func ghPush(commits ...string) string {
	return `{"ref":"refs/heads/main","repository":{"full_name":"o/r"},"pusher":{"name":"p","email":"p@example.org"},"sender":{"login":"p"},"commits":[` +
		strings.Join(commits, ",") + `]}`
}

func TestParsersRefuseMalformedPayloads(t *testing.T) {
	t.Parallel()
	glPush := func(extra string) string {
		return `{"object_kind":"push","project":{"path_with_namespace":"g/p"},"user_username":"u"` + extra + `}`
	}
	cases := []struct {
		name  string
		parse parser
		body  string
	}{
		{"github: empty body", parseGitHub, ""},
		{"github: not JSON", parseGitHub, "ref=refs/heads/main"},
		{"github: form-encoded payload", parseGitHub, "payload=%7B%22ref%22%3A%22x%22%7D"},
		{"github: truncated JSON", parseGitHub, ghPush(ghCommit(sha1, "a", "a@example.org", "a"))[:60]},
		{"github: JSON array", parseGitHub, `[]`},
		{"github: JSON null", parseGitHub, `null`},
		{"github: no ref", parseGitHub, `{"repository":{"full_name":"o/r"}}`},
		{"github: no repository", parseGitHub, `{"ref":"refs/heads/main","commits":[]}`},
		{"github: repository without full_name", parseGitHub, `{"ref":"refs/heads/main","repository":{"name":"r"}}`},
		{"github: repository is not owner/name", parseGitHub, `{"ref":"refs/heads/main","repository":{"full_name":"r"}}`},
		{"github: commits is an object", parseGitHub, `{"ref":"x","repository":{"full_name":"o/r"},"commits":{}}`},
		{"github: email is a number", parseGitHub, ghPush(`{"id":"` + sha1 + `","author":{"email":5}}`)},
		{"github: short commit id", parseGitHub, ghPush(ghCommit("6113728", "a", "a@example.org", "a"))},
		{"github: commit without id", parseGitHub, ghPush(ghCommit("", "a", "a@example.org", "a"))},
		{"github: bad timestamp", parseGitHub, ghPush(strings.Replace(ghCommit(sha1, "a", "a@example.org", "a"), "2019-05-15T15:19:25Z", "yesterday", 1))},
		{"github: bad head_commit id", parseGitHub, `{"ref":"x","repository":{"full_name":"o/r"},"head_commit":{"id":"zz"}}`},
		{"gitlab: empty body", parseGitLab, ""},
		{"gitlab: not JSON", parseGitLab, "{"},
		{"gitlab: no project", parseGitLab, `{"object_kind":"push","user_username":"u"}`},
		{"gitlab: project without path", parseGitLab, `{"object_kind":"push","project":{"name":"p"}}`},
		{"gitlab: another object_kind", parseGitLab, `{"object_kind":"merge_request","project":{"path_with_namespace":"g/p"}}`},
		{"gitlab: bad commit id", parseGitLab, glPush(`,"commits":[{"id":"nope","author":{"email":"a@example.org"}}]`)},
		{"gitlab: bad timestamp", parseGitLab, glPush(`,"commits":[{"id":"` + sha1 + `","timestamp":"13/12/2011","author":{"email":"a@example.org"}}]`)},
		{"gitlab: commits is a string", parseGitLab, glPush(`,"commits":"x"`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			obs, err := c.parse([]byte(c.body))
			if !errors.Is(err, directory.ErrInvalid) {
				t.Fatalf("err = %v (observations %v), want ErrInvalid", err, obs)
			}
			if obs != nil {
				t.Fatalf("returned observations with an error: %v", obs)
			}
		})
	}
}

func TestParsersDedupeAndSkipEmptyIdentities(t *testing.T) {
	t.Parallel()
	other := "36c5f2243ed24de58284a96f2a643bed8c028658"
	cases := []struct {
		name  string
		parse parser
		body  string
		want  []string // role:sha-prefix:email:login
	}{
		{
			"same author on two commits: one observation per commit",
			parseGitHub, ghPush(ghCommit(sha1, "A", "a@example.org", "a"), ghCommit(other, "A", "A@Example.org", "a")),
			[]string{"author:6113:a@example.org:a", "author:36c5:A@Example.org:a", "pusher::p@example.org:p"},
		},
		{
			"same commit listed twice: once",
			parseGitHub, ghPush(ghCommit(sha1, "A", "a@example.org", "a"), ghCommit(strings.ToUpper(sha1), "A", "a@example.org", "a")),
			[]string{"author:6113:a@example.org:a", "pusher::p@example.org:p"},
		},
		{
			"author with neither email nor login: skipped",
			parseGitHub, ghPush(ghCommit(sha1, "Nobody", "", "")),
			[]string{"pusher::p@example.org:p"},
		},
		{
			"author with a login only: kept",
			parseGitHub, ghPush(ghCommit(sha1, "Login Only", "", "lo")),
			[]string{"author:6113::lo", "pusher::p@example.org:p"},
		},
		{
			"email with a control character is dropped, the login kept",
			parseGitHub, ghPush(ghCommit(sha1, "Ctl", "c\u0007@example.org", "ctl")),
			[]string{"author:6113::ctl", "pusher::p@example.org:p"},
		},
		{
			"committer equal to author but for case and missing username: not repeated",
			parseGitHub, ghPush(`{"id":"` + sha1 + `","author":{"name":"A","email":"a@example.org","username":"a"},"committer":{"name":"A","email":"A@EXAMPLE.ORG"}}`),
			[]string{"author:6113:a@example.org:a", "pusher::p@example.org:p"},
		},
		{
			"committer with the author's email but another login: a committer",
			parseGitHub, ghPush(`{"id":"` + sha1 + `","author":{"email":"a@example.org","username":"a"},"committer":{"email":"a@example.org","username":"b"}}`),
			[]string{"author:6113:a@example.org:a", "committer:6113:a@example.org:b", "pusher::p@example.org:p"},
		},
		{
			"GitLab: empty and redacted emails without login are skipped, pusher without anything too",
			parseGitLab, `{"object_kind":"push","project":{"path_with_namespace":"g/sub/p"},"user_name":"X","user_email":"[REDACTED]","commits":[` +
				`{"id":"` + sha1 + `","author":{"name":"A","email":"[REDACTED]"}},{"id":"` + other + `","author":{"name":"B","email":""}}]}`,
			nil,
		},
		{
			"GitLab: the same author on two commits",
			parseGitLab, `{"object_kind":"push","project":{"path_with_namespace":"g/p"},"user_username":"u","commits":[` +
				`{"id":"` + sha1 + `","author":{"email":"a@example.org"}},{"id":"` + other + `","author":{"email":"a@example.org"}}]}`,
			[]string{"author:6113:a@example.org:", "author:36c5:a@example.org:", "pusher:::u"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			obs, err := c.parse([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range obs {
				sha := o.SHA
				if len(sha) > 4 {
					sha = sha[:4]
				}
				got = append(got, o.Role+":"+sha+":"+o.Email+":"+o.Login)
			}
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestParsersCleanNamesAndKeepThemBounded(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 200) // 400 bytes
	obs, err := githook.ParseGitHubPush([]byte(ghPush(ghCommit(sha1, "  Tab\tbed "+long, " a@example.org ", "a"))))
	if err != nil {
		t.Fatal(err)
	}
	o := obs[0]
	if len(o.Name) > directory.GitMaxField || strings.ContainsAny(o.Name, "\t") || !strings.HasPrefix(o.Name, "Tabbed é") {
		t.Errorf("name = %q (%d bytes)", o.Name, len(o.Name))
	}
	if o.Email != "a@example.org" {
		t.Errorf("email = %q, want it trimmed", o.Email)
	}
}

// commitsPayload builds a push of n commits, each by its own author with
// its own committer: 2n+1 observations.
func commitsPayload(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"ref":"refs/heads/main","repository":{"full_name":"o/r"},"sender":{"login":"p"},"commits":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%040x","timestamp":"2019-05-15T15:19:25Z","author":{"email":"a%d@example.org"},"committer":{"email":"c%d@example.org"}}`, i, i, i)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func TestParseGitHubPushTakesTheLargestRealPush(t *testing.T) {
	t.Parallel()
	body := commitsPayload(githook.MaxCommits)
	if len(body) > githook.MaxPayload {
		t.Fatalf("a %d-commit push is %d bytes, over MaxPayload", githook.MaxCommits, len(body))
	}
	obs, err := githook.ParseGitHubPush(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs) != 2*githook.MaxCommits+1 {
		t.Fatalf("%d observations, want %d", len(obs), 2*githook.MaxCommits+1)
	}
}

func TestParsersRefuseTooManyObservations(t *testing.T) {
	t.Parallel()
	n := githook.MaxObservations/2 + 1 // 2n > MaxObservations
	if _, err := githook.ParseGitHubPush(commitsPayload(n)); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("GitHub push of %d commits: err = %v, want ErrInvalid", n, err)
	}
	var b strings.Builder
	b.WriteString(`{"object_kind":"push","project":{"path_with_namespace":"g/p"},"commits":[`)
	for i := range githook.MaxObservations + 1 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%040x","author":{"email":"a%d@example.org"}}`, i, i)
	}
	b.WriteString(`]}`)
	if _, err := githook.ParseGitLabPush([]byte(b.String())); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("GitLab push of %d commits: err = %v, want ErrInvalid", githook.MaxObservations+1, err)
	}
}

func TestGitHubPushedAtForms(t *testing.T) {
	t.Parallel()
	cases := []struct {
		raw  string
		unix int64 // 0: zero time
	}{
		{`1557933657`, 1557933657},
		{`"2019-05-15T15:20:33Z"`, 1557933633},
		{`null`, 0},
		{`-5`, 0},
		{`1e30`, 0},
		{`99999999999999`, 0},
		{`"soon"`, 0},
		{`true`, 0},
	}
	for _, c := range cases {
		body := `{"ref":"x","repository":{"full_name":"o/r","pushed_at":` + c.raw + `},"sender":{"login":"p"}}`
		obs, err := githook.ParseGitHubPush([]byte(body))
		if err != nil {
			t.Errorf("pushed_at %s: %v", c.raw, err)
			continue
		}
		at := obs[0].At
		if c.unix == 0 && !at.IsZero() || c.unix != 0 && at.Unix() != c.unix {
			t.Errorf("pushed_at %s: At = %v, want unix %d", c.raw, at, c.unix)
		}
	}
}
