package githook

import (
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// MaxCommits is the most commits GitHub lists in one push payload
// ("The array includes a maximum of 2048 commits"); GitLab lists 20.
const MaxCommits = 2048

// MaxObservations bounds the observations one payload may yield: an
// author and a committer for each of MaxCommits commits and for a head
// commit that is not among them, and the pusher. A payload that would
// yield more is not a real push, and is refused whole (directory.ErrInvalid)
// rather than stored in part.
const MaxObservations = 2*(MaxCommits+1) + 1

// person is an identity as a payload writes it.
type person struct {
	name, email, login string
}

type obsKey struct {
	role, sha, email, login string
}

// collector gathers a payload's observations: cleaned, deduplicated and
// bounded.
type collector struct {
	provider, repo string
	seen           map[obsKey]bool
	out            []directory.GitObservation
}

func newCollector(provider, repo string) (*collector, error) {
	o := directory.GitObservation{Provider: provider, Repo: repo, Role: directory.GitRolePusher, Login: "x"}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &collector{provider: provider, repo: repo, seen: map[obsKey]bool{}, out: []directory.GitObservation{}}, nil
}

// add records one observation. Fields a host could send but we cannot
// store are dropped, not fatal: a name is cleaned of control characters and
// cut to directory.GitMaxField bytes (it is for display); an email or login
// too long or holding control characters names no one we could match, so
// it is left out. An observation left with neither email nor login is not
// recorded. sha must already be checked.
func (c *collector) add(role, sha string, p person, at time.Time) error {
	o := directory.GitObservation{
		Provider: c.provider,
		Repo:     c.repo,
		SHA:      sha,
		Name:     cleanName(p.name),
		Email:    cleanKey(p.email),
		Login:    cleanKey(p.login),
		At:       at,
		Role:     role,
	}
	if strings.IndexFunc(o.Login, unicode.IsSpace) >= 0 {
		o.Login = ""
	}
	if o.Email == "" && o.Login == "" {
		return nil
	}
	_, email, login := directory.GitKey(o) // the key the store keeps identities by
	k := obsKey{role, sha, email, login}
	if c.seen[k] {
		return nil
	}
	if len(c.out) >= MaxObservations {
		return directory.Invalidf("the payload names more than %d commit authors, committers and pushers", MaxObservations)
	}
	if err := o.Validate(); err != nil {
		return err
	}
	c.seen[k] = true
	c.out = append(c.out, o)
	return nil
}

// sameIdentity tells whether a commit's committer is its author: the same
// address, with logins that do not contradict each other (GitHub may give
// the author's username and not the committer's), or, without addresses,
// the same login.
func sameIdentity(a, b person) bool {
	_, ae, al := directory.GitKey(directory.GitObservation{Email: a.email, Login: a.login})
	_, be, bl := directory.GitKey(directory.GitObservation{Email: b.email, Login: b.login})
	if ae != "" || be != "" {
		return ae == be && (al == "" || bl == "" || al == bl)
	}
	return al == bl
}

func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > directory.GitMaxField {
		cut := directory.GitMaxField
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = strings.TrimSpace(s[:cut])
	}
	return s
}

func cleanKey(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > directory.GitMaxField || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return ""
	}
	return s
}

// commitID checks and normalizes a commit id: a full object name, 40 hex
// digits (SHA-1) or 64 (SHA-256), returned in lower case.
func commitID(where, id string) (string, error) {
	if len(id) != 40 && len(id) != 64 {
		return "", directory.Invalidf("%s: id %q is not a full commit id", where, clip(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return "", directory.Invalidf("%s: id %q is not a full commit id", where, clip(id))
		}
	}
	return strings.ToLower(id), nil
}

// Layouts of the timestamps the hosts write: RFC 3339 (GitHub and GitLab
// alike), and ISO 8601 with a colon-less offset, which older GitLab wrote.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05-0700", "2006-01-02 15:04:05 -0700"}

// commitTime parses a commit timestamp into UTC; "" is the zero time (not
// known), anything else that does not parse is an error.
func commitTime(where, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, directory.Invalidf("%s: timestamp %q is not RFC 3339", where, clip(s))
}

// clip shortens a value quoted in an error message.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// decode unmarshals a payload, turning the decoder's errors into
// directory.ErrInvalid with a message about the JSON, not about our types.
func decode(kind string, body []byte, v any) error {
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return directory.Invalidf("%s payload is not valid JSON (at byte %d)", kind, syntax.Offset)
	case errors.As(err, &typ) && typ.Field != "":
		return directory.Invalidf("%s payload: %s must not be a JSON %s", kind, clip(typ.Field), typ.Value)
	case errors.As(err, &typ):
		return directory.Invalidf("%s payload must be a JSON object, not %s", kind, typ.Value)
	default:
		return directory.Invalidf("%s payload is not valid JSON", kind)
	}
}
