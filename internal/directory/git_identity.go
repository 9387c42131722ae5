package directory

import (
	"strings"
	"time"
)

// GitIdentity is a Git author identity of an organization and, when
// mapped, the one user or service account it belongs to.
type GitIdentity struct {
	ID        string
	OrgID     string
	Provider  string
	Email     string // NormalizeEmail: ASCII letters lower-cased
	Login     string // ASCII letters lower-cased; "" when the host gives none
	Name      string // as last seen on a commit
	FirstSeen time.Time
	LastSeen  time.Time
	Commits   int64
	Repos     []string
	UserID    string // "" when unmapped
	MappedBy  string
	MappedAt  *time.Time
}

// GitKey is how an observation names its identity.
func GitKey(o GitObservation) (provider, email, login string) {
	return FoldASCII(strings.Trim(o.Provider, asciiSpace)), NormalizeEmail(o.Email), FoldASCII(strings.Trim(o.Login, asciiSpace))
}
