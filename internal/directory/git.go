package directory

import (
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Git providers that scimbridge reads push webhooks from. Other hosts may
// report observations through the admin API under their own lower-case
// host name.
const (
	GitProviderGitHub = "github"
	GitProviderGitLab = "gitlab"
)

// Roles of a person in a Git observation.
const (
	GitRoleAuthor    = "author"
	GitRoleCommitter = "committer"
	GitRolePusher    = "pusher"
)

// Bounds on the fields of a GitObservation, in bytes. 255 covers any real
// address (RFC 5321 caps a path at 256 octets with its brackets), login
// (GitHub: 39 characters, GitLab: 255) and name; a GitLab path with nested
// groups is longer than a GitHub "owner/name", hence 1024 for the repo.
const (
	GitMaxField = 255
	GitMaxRepo  = 1024
)

// GitObservation is one commit author (or pusher) seen on a synced repository.
type GitObservation struct {
	Provider string    // "github", "gitlab", or another host name in lower case
	Repo     string    // "owner/name" (GitHub full_name, GitLab path_with_namespace)
	SHA      string    // commit id; "" for a pusher observation
	Name     string    // author name as written in the commit
	Email    string    // author email as written (case kept)
	Login    string    // the host's account login when the payload gives one ("" otherwise)
	At       time.Time // commit timestamp (or push time for a pusher); zero when unknown
	Role     string    // "author", "committer" or "pusher"
}

const githubNoreplyHost = "users.noreply.github.com"

// GitHubNoreplyLogin returns the login from GitHub's noreply addresses:
// "12345+octocat@users.noreply.github.com" and the older
// "octocat@users.noreply.github.com" → "octocat", true. The login keeps
// the case it was written in (GitHub logins compare case-insensitively);
// a GitHub App's bot keeps its "[bot]" suffix, as in sender.login
// ("41898282+github-actions[bot]@…" → "github-actions[bot]").
//
// Such an address is not a mailbox, so it resolves by login, never by
// email (see PersonalEmail). GitHub Enterprise Server's noreply host
// (noreply.HOSTNAME) is not recognised: the host name is the server's.
func GitHubNoreplyLogin(email string) (string, bool) {
	e := strings.TrimSpace(email)
	at := strings.LastIndexByte(e, '@')
	if at < 0 || !strings.EqualFold(e[at+1:], githubNoreplyHost) {
		return "", false
	}
	local := e[:at]
	if id, login, ok := strings.Cut(local, "+"); ok {
		if !allDigits(id) {
			return "", false
		}
		local = login
	}
	if !githubLogin(local) {
		return "", false
	}
	return local, true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// githubLogin accepts a GitHub login: at most 39 letters, digits and
// hyphens (older accounts may have hyphens anywhere), or a GitHub App's
// bot login with its "[bot]" suffix.
func githubLogin(s string) bool {
	s = strings.TrimSuffix(s, "[bot]")
	if s == "" || len(s) > 39 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Local parts that name no one: the hosts' robots write them, and mail to
// them is discarded by design (GitHub's web-flow committer is
// "GitHub <noreply@github.com>").
var robotLocalParts = map[string]bool{
	"noreply": true, "no-reply": true, "no_reply": true,
	"donotreply": true, "do-not-reply": true, "do_not_reply": true,
}

// Host suffixes that never receive mail from outside one machine or one
// network: mDNS (.local, RFC 6762), the loopback name (.localhost, RFC
// 6761), the names resolvers invent (.localdomain, .internal), the TLD
// reserved to be invalid (RFC 2606), and ".(none)", which Git appends to
// the host name when it builds user@host for a committer who set no email
// (GitLab's own push example shows "gitlabdev@dv6700.(none)").
var nonPersonalHostSuffixes = []string{
	".local", ".localhost", ".localdomain", ".internal", ".invalid", ".(none)",
}

// PersonalEmail reports whether an address can belong to a person and so
// may be auto-mapped to a user by email. It is false for:
//
//   - "", anything without exactly one "@", an empty local part or host,
//     a host with an empty label, and addresses with spaces or control
//     characters (not addresses);
//   - the machine-local hosts: localhost, *.localhost, *.local,
//     *.localdomain, *.internal, *.invalid, Git's "*.(none)" fallback, a
//     host without a dot (Git's default ident is user@hostname), and
//     address literals such as root@[127.0.0.1];
//   - the hosts' noreply addresses, any host with a "noreply" or
//     "no-reply" label: GitHub's users.noreply.github.com (these resolve
//     by login instead, see GitHubNoreplyLogin) and GitHub Enterprise
//     Server's noreply.HOSTNAME, GitLab's ID-username@users.noreply.gitlab.com
//     (users.noreply.HOST on self-managed, noreply.gitlab.com before), and
//     Bitbucket's users.noreply.bitbucket.org;
//   - robot local parts: noreply@, no-reply@, donotreply@… (GitHub's
//     web-flow committer is noreply@github.com) and GitHub App bots, whose
//     local part ends in "[bot]".
//
// It is true otherwise: an address the organization's users could have
// verified with the identity provider.
func PersonalEmail(email string) bool {
	e := NormalizeEmail(email)
	if e == "" || strings.Count(e, "@") != 1 {
		return false
	}
	for _, r := range e {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	local, host, _ := strings.Cut(e, "@")
	if local == "" || host == "" {
		return false
	}
	if robotLocalParts[local] || strings.HasSuffix(local, "[bot]") {
		return false
	}
	if host == "localhost" || strings.HasPrefix(host, "[") || !strings.Contains(host, ".") ||
		strings.HasPrefix(host, ".") || strings.HasSuffix(host, ".") || strings.Contains(host, "..") {
		return false
	}
	for _, s := range nonPersonalHostSuffixes {
		if strings.HasSuffix(host, s) {
			return false
		}
	}
	for label := range strings.SplitSeq(host, ".") {
		if label == "noreply" || label == "no-reply" {
			return false
		}
	}
	return true
}

var gitProviderRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)

// gitObjectName accepts a full Git object name: 40 (SHA-1) or 64 (SHA-256)
// lower-case hex digits. Observations are idempotent by (repo, sha), so
// abbreviations are refused.
func gitObjectName(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// gitText checks a free-text field: valid UTF-8, at most max bytes, no
// control characters.
func gitText(field, s string, max int) error {
	if len(s) > max {
		return Invalidf("%s is longer than %d bytes", field, max)
	}
	if !utf8.ValidString(s) {
		return Invalidf("%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return Invalidf("%s must not contain control characters", field)
		}
	}
	return nil
}

// Validate checks an observation from an API client (the webhook parsers
// produce only observations that pass it): provider, repo and an email or
// a login are required; role is author, committer or pusher; an author or
// committer names its commit by full object name, a pusher names none;
// lengths are bounded (GitMaxField, GitMaxRepo) and no field holds control
// characters. Errors are ErrInvalid and name the field.
func (o GitObservation) Validate() error {
	if o.Provider == "" {
		return Invalidf("provider is required")
	}
	if !gitProviderRE.MatchString(o.Provider) {
		return Invalidf("provider %q must be github, gitlab or a lower-case host name", o.Provider)
	}
	if o.Repo == "" {
		return Invalidf("repo is required")
	}
	if err := gitText("repo", o.Repo, GitMaxRepo); err != nil {
		return err
	}
	if strings.TrimSpace(o.Repo) != o.Repo || strings.HasPrefix(o.Repo, "/") || strings.HasSuffix(o.Repo, "/") ||
		!strings.Contains(o.Repo, "/") || strings.Contains(o.Repo, "//") {
		return Invalidf("repo %q must be owner/name", o.Repo)
	}
	switch o.Role {
	case GitRoleAuthor, GitRoleCommitter:
		if o.SHA == "" {
			return Invalidf("sha is required for an %s", o.Role)
		}
		if !gitObjectName(o.SHA) {
			return Invalidf("sha %q must be 40 or 64 lower-case hex digits", o.SHA)
		}
	case GitRolePusher:
		if o.SHA != "" {
			return Invalidf("sha must be empty for a pusher")
		}
	case "":
		return Invalidf("role is required: author, committer or pusher")
	default:
		return Invalidf("role %q: want author, committer or pusher", o.Role)
	}
	if err := gitText("name", o.Name, GitMaxField); err != nil {
		return err
	}
	if err := gitText("email", o.Email, GitMaxField); err != nil {
		return err
	}
	if strings.TrimSpace(o.Email) != o.Email {
		return Invalidf("email %q must not begin or end with spaces", o.Email)
	}
	if err := gitText("login", o.Login, GitMaxField); err != nil {
		return err
	}
	if strings.IndexFunc(o.Login, unicode.IsSpace) >= 0 {
		return Invalidf("login %q must not contain spaces", o.Login)
	}
	if o.Email == "" && o.Login == "" {
		return Invalidf("email or login is required")
	}
	return nil
}
