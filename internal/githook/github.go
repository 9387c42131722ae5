package githook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// Kinds of webhook event, as GitHubEvent and GitLabEvent classify them.
const (
	// KindPush is a push: parse it and store what it names.
	KindPush = "push"
	// KindPing is GitHub's check that a new webhook works: answer 200 and
	// store nothing. GitLab has no ping (its Test button sends a sample
	// push, which is a KindPush).
	KindPing = "ping"
	// KindOther is any other event: acknowledge it (2xx, so the host does
	// not mark the hook failing) and store nothing.
	KindOther = "other"
)

// GitHubEvent classifies a delivery by its X-GitHub-Event header: "push"
// is KindPush, "ping" is KindPing, anything else (including no header) is
// KindOther. Only pushes go to ParseGitHubPush, which refuses a ping's
// body. Call it after VerifyGitHub: the header is not signed, but the body
// is, and ParseGitHubPush checks that the body is a push.
func GitHubEvent(header string) string {
	switch strings.TrimSpace(header) {
	case "push":
		return KindPush
	case "ping":
		return KindPing
	default:
		return KindOther
	}
}

type githubPerson struct {
	Name     string `json:"name"`
	Email    string `json:"email"` // null when GitHub has none
	Username string `json:"username"`
	Date     string `json:"date"`
}

type githubCommit struct {
	ID        string       `json:"id"`
	Timestamp string       `json:"timestamp"`
	Author    githubPerson `json:"author"`
	Committer githubPerson `json:"committer"`
}

type githubPush struct {
	Ref        string         `json:"ref"`
	Commits    []githubCommit `json:"commits"`
	HeadCommit *githubCommit  `json:"head_commit"`
	Repository *struct {
		FullName string          `json:"full_name"`
		PushedAt json.RawMessage `json:"pushed_at"`
	} `json:"repository"`
	Pusher struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"pusher"`
	Sender struct {
		Login string `json:"login"`
	} `json:"sender"`
}

// ParseGitHubPush parses the payload of a GitHub "push" event (X-GitHub-Event:
// push) into observations, Provider "github" and Repo repository.full_name:
//
//   - for each of commits: its author (Role "author"; name, email, username
//     as Login, the author's date or else the commit's timestamp as At, id as
//     SHA), and its committer (Role "committer") when that is another
//     identity — GitHub's web-flow committer "GitHub <noreply@github.com>"
//     is recorded like any other, and PersonalEmail keeps it from being
//     auto-mapped;
//   - head_commit, the same way, when no listed commit has its id: GitHub
//     sends commits: [] with the tip as head_commit when a branch or tag is
//     created at an existing commit, and that commit's author is seen on the
//     repository all the same (a deleted ref has head_commit null);
//   - the pusher (Role "pusher"): name and email from pusher, Login from
//     sender.login, At from repository.pushed_at (Unix seconds in push
//     payloads) or zero.
//
// Unknown fields are ignored. Malformed JSON, a payload with no ref (a
// ping or another event's body), no repository.full_name, a commit id that
// is not a full object name, an unparsable timestamp, or more than
// MaxObservations observations are directory.ErrInvalid.
func ParseGitHubPush(body []byte) ([]directory.GitObservation, error) {
	var p githubPush
	if err := decode("GitHub push", body, &p); err != nil {
		return nil, err
	}
	if p.Ref == "" {
		return nil, directory.Invalidf("GitHub payload is not a push: it has no ref")
	}
	if p.Repository == nil || p.Repository.FullName == "" {
		return nil, directory.Invalidf("GitHub push payload has no repository.full_name")
	}
	c, err := newCollector(directory.GitProviderGitHub, p.Repository.FullName)
	if err != nil {
		return nil, err
	}
	listed := make(map[string]bool, len(p.Commits))
	for i, cm := range p.Commits {
		sha, err := c.addGitHubCommit(fmt.Sprintf("commits[%d]", i), cm)
		if err != nil {
			return nil, err
		}
		listed[sha] = true
	}
	if h := p.HeadCommit; h != nil {
		if sha, err := commitID("head_commit", h.ID); err != nil {
			return nil, err
		} else if !listed[sha] {
			if _, err := c.addGitHubCommit("head_commit", *h); err != nil {
				return nil, err
			}
		}
	}
	err = c.add(directory.GitRolePusher, "",
		person{name: p.Pusher.Name, email: p.Pusher.Email, login: p.Sender.Login},
		githubPushedAt(p.Repository.PushedAt))
	if err != nil {
		return nil, err
	}
	return c.out, nil
}

func (c *collector) addGitHubCommit(where string, cm githubCommit) (string, error) {
	sha, err := commitID(where, cm.ID)
	if err != nil {
		return "", err
	}
	at, err := commitTime(where, cm.Timestamp)
	if err != nil {
		return "", err
	}
	author := person{name: cm.Author.Name, email: cm.Author.Email, login: cm.Author.Username}
	authorAt := at
	if cm.Author.Date != "" {
		if authorAt, err = commitTime(where+".author", cm.Author.Date); err != nil {
			return "", err
		}
	}
	if err := c.add(directory.GitRoleAuthor, sha, author, authorAt); err != nil {
		return "", err
	}
	committer := person{name: cm.Committer.Name, email: cm.Committer.Email, login: cm.Committer.Username}
	if sameIdentity(author, committer) {
		return sha, nil
	}
	committerAt := at
	if cm.Committer.Date != "" {
		if committerAt, err = commitTime(where+".committer", cm.Committer.Date); err != nil {
			return "", err
		}
	}
	return sha, c.add(directory.GitRoleCommitter, sha, committer, committerAt)
}

// latestUnix is 9999-12-31T23:59:59Z, the last second a timestamp column
// and RFC 3339 both hold.
const latestUnix = 253402300799

// githubPushedAt reads repository.pushed_at: Unix seconds in push payloads,
// an RFC 3339 string in other events. Anything else is "not known" (zero):
// it dates the pusher only, and is no reason to refuse the push.
func githubPushedAt(raw json.RawMessage) time.Time {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == 'n' {
		return time.Time{}
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return time.Time{}
		}
		t, err := commitTime("repository.pushed_at", s)
		if err != nil {
			return time.Time{}
		}
		return t
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n <= 0 || n > latestUnix {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}
