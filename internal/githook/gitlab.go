package githook

import (
	"fmt"
	"strings"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// GitLabEvent classifies a delivery by its X-Gitlab-Event header: "Push
// Hook" and "Tag Push Hook" are KindPush, anything else (including no
// header, and "System Hook": system hooks are an instance's, not a
// project's) is KindOther.
func GitLabEvent(header string) string {
	switch strings.TrimSpace(header) {
	case "Push Hook", "Tag Push Hook":
		return KindPush
	default:
		return KindOther
	}
}

// gitlabRedacted is what GitLab writes in place of an address its owner
// keeps private ("If an author has no public email listed in their GitLab
// profile, the email attribute in the webhook payload displays a value of
// [REDACTED]").
const gitlabRedacted = "[REDACTED]"

type gitlabPush struct {
	ObjectKind   string `json:"object_kind"`
	UserName     string `json:"user_name"`
	UserUsername string `json:"user_username"`
	UserEmail    string `json:"user_email"`
	Project      *struct {
		PathWithNamespace string `json:"path_with_namespace"`
	} `json:"project"`
	Commits []struct {
		ID        string `json:"id"`
		Timestamp string `json:"timestamp"`
		Author    struct {
			Name  string `json:"name"`
			Email string `json:"email"`
		} `json:"author"`
	} `json:"commits"`
}

// gitlabEmail is an address as GitLab sends it, "" when redacted.
func gitlabEmail(s string) string {
	if strings.EqualFold(strings.TrimSpace(s), gitlabRedacted) {
		return ""
	}
	return s
}

// ParseGitLabPush parses the payload of a GitLab "Push Hook" or "Tag Push
// Hook" (object_kind "push" or "tag_push") into observations, Provider
// "gitlab" and Repo project.path_with_namespace:
//
//   - for each of commits: its author (Role "author"; name, email, id as SHA,
//     timestamp as At, no Login: GitLab does not say which account wrote a
//     commit, and it does not send the committer);
//   - the pusher (Role "pusher"): user_name, user_username as Login and
//     user_email, with At zero (the payload carries no push time).
//
// An email of "[REDACTED]" (GitLab's placeholder for a private address) or
// "" counts as no email. GitLab lists at most the newest 20 commits of a
// push (total_commits_count has the real number); the rest are not seen.
// Unknown fields are ignored. Malformed JSON, another object_kind, no
// project.path_with_namespace, a commit id that is not a full object name,
// an unparsable timestamp, or more than MaxObservations observations are
// directory.ErrInvalid.
func ParseGitLabPush(body []byte) ([]directory.GitObservation, error) {
	var p gitlabPush
	if err := decode("GitLab push", body, &p); err != nil {
		return nil, err
	}
	switch p.ObjectKind {
	case "push", "tag_push", "":
	default:
		return nil, directory.Invalidf("GitLab payload is not a push: object_kind is %q", clip(p.ObjectKind))
	}
	if p.Project == nil || p.Project.PathWithNamespace == "" {
		return nil, directory.Invalidf("GitLab push payload has no project.path_with_namespace")
	}
	c, err := newCollector(directory.GitProviderGitLab, p.Project.PathWithNamespace)
	if err != nil {
		return nil, err
	}
	for i, cm := range p.Commits {
		where := fmt.Sprintf("commits[%d]", i)
		sha, err := commitID(where, cm.ID)
		if err != nil {
			return nil, err
		}
		at, err := commitTime(where, cm.Timestamp)
		if err != nil {
			return nil, err
		}
		author := person{name: cm.Author.Name, email: gitlabEmail(cm.Author.Email)}
		if err := c.add(directory.GitRoleAuthor, sha, author, at); err != nil {
			return nil, err
		}
	}
	pusher := person{name: p.UserName, email: gitlabEmail(p.UserEmail), login: p.UserUsername}
	if err := c.add(directory.GitRolePusher, "", pusher, time.Time{}); err != nil {
		return nil, err
	}
	return c.out, nil
}
