package directory

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"Mona@Example.ORG":   "mona@example.org",
		"  a@b.c\t":          "a@b.c",
		"":                   "",
		"ÉLODIE@Exemple.fr":  "Élodie@exemple.fr", // É is not ASCII: kept (see TestFoldASCII)
		"\u00a0a@b.c":        "\u00a0a@b.c",       // a Unicode space is part of the address
		"already@lower.case": "already@lower.case",
	}
	for in, want := range cases {
		if got := NormalizeEmail(in); got != want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGitHubNoreplyLogin(t *testing.T) {
	t.Parallel()
	cases := []struct {
		email string
		login string
		ok    bool
	}{
		{"12345+octocat@users.noreply.github.com", "octocat", true},
		{"octocat@users.noreply.github.com", "octocat", true},
		{"21031067+Codertocat@users.noreply.github.com", "Codertocat", true},
		{"21031067+Codertocat@Users.NoReply.GitHub.com", "Codertocat", true},
		{"  12345+octocat@users.noreply.github.com ", "octocat", true},
		{"41898282+github-actions[bot]@users.noreply.github.com", "github-actions[bot]", true},
		{"github-actions[bot]@users.noreply.github.com", "github-actions[bot]", true},
		{"1+a-b-c@users.noreply.github.com", "a-b-c", true},
		{"octocat@github.com", "", false},
		{"noreply@github.com", "", false},
		{"12345+octocat@users.noreply.gitlab.com", "", false},
		{"12345+octocat@noreply.github.example.com", "", false},
		{"abc+octocat@users.noreply.github.com", "", false},
		{"+octocat@users.noreply.github.com", "", false},
		{"12345+@users.noreply.github.com", "", false},
		{"@users.noreply.github.com", "", false},
		{"octo.cat@users.noreply.github.com", "", false},
		{"octo_cat@users.noreply.github.com", "", false},
		{"1+2+octocat@users.noreply.github.com", "", false},
		{strings.Repeat("a", 40) + "@users.noreply.github.com", "", false},
		{strings.Repeat("a", 39) + "@users.noreply.github.com", strings.Repeat("a", 39), true},
		{"[bot]@users.noreply.github.com", "", false},
		{"octocat@users.noreply.github.com.evil.example", "", false},
		{"users.noreply.github.com", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		login, ok := GitHubNoreplyLogin(c.email)
		if login != c.login || ok != c.ok {
			t.Errorf("GitHubNoreplyLogin(%q) = %q, %v; want %q, %v", c.email, login, ok, c.login, c.ok)
		}
	}
}

func TestPersonalEmail(t *testing.T) {
	t.Parallel()
	cases := []struct {
		email string
		want  bool
		why   string
	}{
		{"mona@octocat.example.org", true, "an ordinary address"},
		{"Jordi@Softcatala.org", true, "case does not matter"},
		{"first.last+tag@sub.company.co.uk", true, "sub-addressing and subdomains"},
		{"john@example.com", true, "example.com is a test domain, not a robot"},
		{"octocat@github.com", true, "a GitHub employee is a person"},
		{"élodie@exemple.fr", true, "internationalized local part"},
		{"", false, "empty"},
		{"   ", false, "blank"},
		{"[REDACTED]", false, "GitLab's placeholder"},
		{"unknown", false, "no @"},
		{"a@b@c.com", false, "two @"},
		{"@example.org", false, "empty local part"},
		{"mona@", false, "empty host"},
		{"mona@example.", false, "empty last label"},
		{"mona@.example.org", false, "empty first label"},
		{"mona@example..org", false, "empty inner label"},
		{"mo na@example.org", false, "space inside"},
		{"root@localhost", false, "root@localhost"},
		{"mona@localhost", false, "any *@localhost"},
		{"ROOT@LOCALHOST", false, "localhost in any case"},
		{"dev@box.localhost", false, ".localhost (RFC 6761)"},
		{"mona@macbook.local", false, ".local (mDNS)"},
		{"root@build.localdomain", false, ".localdomain"},
		{"ci@runner-7.c.project.internal", false, ".internal"},
		{"x@host.invalid", false, ".invalid (RFC 2606)"},
		{"gitlabdev@dv6700.(none)", false, "Git's fallback ident, from GitLab's push example"},
		{"mona@laptop", false, "unqualified host name: Git's user@hostname default"},
		{"root@[127.0.0.1]", false, "address literal"},
		{"noreply@github.com", false, "GitHub's web-flow committer"},
		{"12345+octocat@users.noreply.github.com", false, "GitHub noreply: resolves by login"},
		{"octocat@users.noreply.github.com", false, "older GitHub noreply"},
		{"41898282+github-actions[bot]@users.noreply.github.com", false, "GitHub Actions bot"},
		{"4012309-kimurae@users.noreply.gitlab.com", false, "GitLab private commit email"},
		{"1234+jsmith@noreply.gitlab.com", false, "older GitLab private commit email"},
		{"3-admin@users.noreply.gitlab.example.com", false, "self-managed GitLab private commit email"},
		{"5+mona@noreply.github.example.com", false, "GitHub Enterprise Server noreply"},
		{"abc123+mona@users.noreply.bitbucket.org", false, "Bitbucket noreply"},
		{"no-reply@example.org", false, "robot local part"},
		{"donotreply@example.org", false, "robot local part"},
		{"do-not-reply@example.org", false, "robot local part"},
		{"renovate[bot]@app.renovatebot.com", false, "bot local part"},
		{"noreplyhelp@example.org", true, "a word that starts with noreply is not the label"},
		{"mona@noreplyco.com", true, "a host that starts with noreply is not the label"},
	}
	for _, c := range cases {
		if got := PersonalEmail(c.email); got != c.want {
			t.Errorf("PersonalEmail(%q) = %v, want %v (%s)", c.email, got, c.want, c.why)
		}
	}
}

func TestGitObservationValidate(t *testing.T) {
	t.Parallel()
	const sha = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
	good := GitObservation{Provider: "github", Repo: "Codertocat/Hello-World", SHA: sha, Name: "Codertocat",
		Email: "mona@example.org", Login: "Codertocat", At: time.Unix(1557933565, 0), Role: GitRoleAuthor}
	with := func(f func(*GitObservation)) GitObservation { o := good; f(&o); return o }
	cases := []struct {
		name  string
		o     GitObservation
		field string // "" for valid; else a word the error must hold
	}{
		{"a full author observation", good, ""},
		{"a committer", with(func(o *GitObservation) { o.Role = GitRoleCommitter }), ""},
		{"a pusher without sha", with(func(o *GitObservation) { o.Role = GitRolePusher; o.SHA = "" }), ""},
		{"email only", with(func(o *GitObservation) { o.Login = "" }), ""},
		{"login only", with(func(o *GitObservation) { o.Email = "" }), ""},
		{"a SHA-256 object name", with(func(o *GitObservation) { o.SHA = strings.Repeat("ab", 32) }), ""},
		{"another host as provider", with(func(o *GitObservation) { o.Provider = "gitea.example.org" }), ""},
		{"a nested GitLab path", with(func(o *GitObservation) { o.Repo = "group/sub/project" }), ""},
		{"no time", with(func(o *GitObservation) { o.At = time.Time{} }), ""},
		{"unicode name", with(func(o *GitObservation) { o.Name = "Jöran Ω" }), ""},
		{"name at the bound", with(func(o *GitObservation) { o.Name = strings.Repeat("n", GitMaxField) }), ""},
		{"no provider", with(func(o *GitObservation) { o.Provider = "" }), "provider"},
		{"upper-case provider", with(func(o *GitObservation) { o.Provider = "GitHub" }), "provider"},
		{"provider with a space", with(func(o *GitObservation) { o.Provider = "git hub" }), "provider"},
		{"no repo", with(func(o *GitObservation) { o.Repo = "" }), "repo"},
		{"repo without owner", with(func(o *GitObservation) { o.Repo = "Hello-World" }), "repo"},
		{"repo with a leading slash", with(func(o *GitObservation) { o.Repo = "/o/r" }), "repo"},
		{"repo with a trailing slash", with(func(o *GitObservation) { o.Repo = "o/r/" }), "repo"},
		{"repo with an empty segment", with(func(o *GitObservation) { o.Repo = "o//r" }), "repo"},
		{"repo with spaces around", with(func(o *GitObservation) { o.Repo = " o/r" }), "repo"},
		{"repo too long", with(func(o *GitObservation) { o.Repo = "o/" + strings.Repeat("r", GitMaxRepo) }), "repo"},
		{"repo with a newline", with(func(o *GitObservation) { o.Repo = "o/r\n" }), "repo"},
		{"no role", with(func(o *GitObservation) { o.Role = "" }), "role"},
		{"unknown role", with(func(o *GitObservation) { o.Role = "reviewer" }), "role"},
		{"author without sha", with(func(o *GitObservation) { o.SHA = "" }), "sha"},
		{"abbreviated sha", with(func(o *GitObservation) { o.SHA = sha[:7] }), "sha"},
		{"upper-case sha", with(func(o *GitObservation) { o.SHA = strings.ToUpper(sha) }), "sha"},
		{"non-hex sha", with(func(o *GitObservation) { o.SHA = strings.Repeat("g", 40) }), "sha"},
		{"pusher with a sha", with(func(o *GitObservation) { o.Role = GitRolePusher }), "sha"},
		{"neither email nor login", with(func(o *GitObservation) { o.Email, o.Login = "", "" }), "email or login"},
		{"email too long", with(func(o *GitObservation) { o.Email = strings.Repeat("e", GitMaxField) + "@x.org" }), "email"},
		{"email with a control character", with(func(o *GitObservation) { o.Email = "a\x00@b.org" }), "email"},
		{"email with spaces around", with(func(o *GitObservation) { o.Email = " a@b.org" }), "email"},
		{"email not UTF-8", with(func(o *GitObservation) { o.Email = "a\xff@b.org" }), "email"},
		{"login too long", with(func(o *GitObservation) { o.Login = strings.Repeat("l", GitMaxField+1) }), "login"},
		{"login with a space", with(func(o *GitObservation) { o.Login = "octo cat" }), "login"},
		{"login with a tab", with(func(o *GitObservation) { o.Login = "octo\tcat" }), "login"},
		{"name too long", with(func(o *GitObservation) { o.Name = strings.Repeat("n", GitMaxField+1) }), "name"},
		{"name with a C1 control", with(func(o *GitObservation) { o.Name = "a\u0085b" }), "name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := c.o.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), c.field) {
				t.Fatalf("error %q does not name %s", err, c.field)
			}
		})
	}
}

// FuzzGitHubNoreplyLogin: a recognised address yields a login that is not
// empty, is part of the address, and the address is never auto-mapped.
func FuzzGitHubNoreplyLogin(f *testing.F) {
	for _, s := range []string{"12345+octocat@users.noreply.github.com", "octocat@users.noreply.github.com",
		"41898282+github-actions[bot]@users.noreply.github.com", "a@b.c", "", "@", "+@users.noreply.github.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, email string) {
		login, ok := GitHubNoreplyLogin(email)
		if !ok {
			if login != "" {
				t.Fatalf("login %q without ok", login)
			}
			return
		}
		if login == "" || !strings.Contains(email, login+"@") {
			t.Fatalf("GitHubNoreplyLogin(%q) = %q", email, login)
		}
		if PersonalEmail(email) {
			t.Fatalf("noreply address %q counted as personal", email)
		}
		o := GitObservation{Provider: GitProviderGitHub, Repo: "o/r", Role: GitRolePusher, Login: login}
		if err := o.Validate(); err != nil {
			t.Fatalf("login %q does not validate: %v", login, err)
		}
	})
}

// FuzzPersonalEmail: a personal address has exactly one @, a dotted host
// and survives normalization.
func FuzzPersonalEmail(f *testing.F) {
	for _, s := range []string{"mona@example.org", "root@localhost", "gitlabdev@dv6700.(none)", "noreply@github.com",
		"a@b", "[REDACTED]", " A@B.C "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, email string) {
		if !PersonalEmail(email) {
			return
		}
		n := NormalizeEmail(email)
		local, host, ok := strings.Cut(n, "@")
		if !ok || local == "" || !strings.Contains(host, ".") || strings.Contains(host, "@") {
			t.Fatalf("PersonalEmail(%q) is true", email)
		}
		if !PersonalEmail(n) {
			t.Fatalf("PersonalEmail(%q) differs from its normal form %q", email, n)
		}
	})
}
