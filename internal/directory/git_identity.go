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
	Email     string // normalised (lower case)
	Login     string // lower case; "" when the host gives none
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
	return strings.ToLower(strings.TrimSpace(o.Provider)), NormalizeEmail(o.Email), strings.ToLower(strings.TrimSpace(o.Login))
}
