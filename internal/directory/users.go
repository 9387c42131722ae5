package directory

import (
	"strings"
	"time"
)

// EnterpriseUserURN is the schema URN of SCIM's enterprise user extension.
const EnterpriseUserURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// User is a person (or, later, a service account) of an organization.
// Attributes is the SCIM document as the identity provider sent it, with
// canonical attribute names, less id, externalId, meta, schemas, password
// and groups; the fields beside it are derived from it (see Derive).
type User struct {
	ID          string
	OrgID       string
	UserName    string
	ExternalID  string // "" when the IdP sent none
	Active      bool
	DisplayName string
	GivenName   string
	FamilyName  string
	Emails      []string // emails[].value, ASCII letters lower-cased (FoldASCII)
	Attributes  map[string]any
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// Groups is derived from memberships; filled on reads.
	Groups []GroupRef
	// Kind is KindHuman or KindService; Source says where the user came
	// from. RemovedAt is set once an admin removed the user.
	Kind      string
	Source    string
	RemovedAt *time.Time
}

// User kinds.
const (
	KindHuman   = "human"
	KindService = "service"
)

// User sources: where a user came from. Only SCIM users are managed by the
// identity provider.
const (
	SourceSCIM       = "scim"
	SourceInvitation = "invitation"
	SourceJIT        = "jit"
	SourceService    = "service"
	SourceBreakGlass = "breakglass"
)

// User statuses, as listings show them.
const (
	StatusActive      = "active"
	StatusDeactivated = "deactivated"
	StatusRemoved     = "removed"
	StatusInvited     = "invited"
)

// Status is the user's status now.
func (u User) Status() string {
	switch {
	case u.RemovedAt != nil:
		return StatusRemoved
	case !u.Active:
		return StatusDeactivated
	default:
		return StatusActive
	}
}

// IdPManaged tells whether the identity provider owns the user: then its
// IdP-owned attributes change only through SCIM.
func (u User) IdPManaged() bool { return u.Source == SourceSCIM }

// GroupRef names a group a user belongs to.
type GroupRef struct {
	ID          string
	DisplayName string
}

// Derive sets the indexed fields from Attributes. It returns ErrInvalid
// when userName is missing.
func (u *User) Derive() error {
	a := u.Attributes
	u.UserName, _ = a["userName"].(string)
	if strings.TrimSpace(u.UserName) == "" {
		return Invalidf("userName is required")
	}
	u.Active = true
	if v, ok := a["active"].(bool); ok {
		u.Active = v
	}
	u.DisplayName, _ = a["displayName"].(string)
	u.GivenName, u.FamilyName = "", ""
	if n, ok := a["name"].(map[string]any); ok {
		u.GivenName, _ = n["givenName"].(string)
		u.FamilyName, _ = n["familyName"].(string)
	}
	u.Emails = u.Emails[:0]
	if list, ok := a["emails"].([]any); ok {
		for _, e := range list {
			if m, ok := e.(map[string]any); ok {
				if v, ok := m["value"].(string); ok && v != "" {
					u.Emails = append(u.Emails, FoldASCII(v))
				}
			}
		}
	}
	if u.Emails == nil {
		u.Emails = []string{}
	}
	return nil
}

// Group is an IdP group. Attributes holds what the IdP sent besides
// displayName, externalId and members, which live in their own columns
// and rows.
type Group struct {
	ID          string
	OrgID       string
	DisplayName string
	ExternalID  string
	Attributes  map[string]any
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// Members is filled on reads that ask for it; nil otherwise.
	Members []Member
}

// Member is a user in a group.
type Member struct {
	UserID  string
	Display string
}

// ListQuery selects a page of users or groups.
type ListQuery struct {
	Filter     Filter // nil: all
	StartIndex int    // 1-based
	Count      int    // 0: totals only
	SortBy     *AttrPath
	Descending bool
	// WithMembers loads group members (groups only).
	WithMembers bool
}

// MemberChange is a change to a group's members.
type MemberChange struct {
	// Replace, when true, sets the members to exactly Add.
	Replace bool
	Add     []string // user ids
	Remove  []string // user ids
	// Display holds the display names the IdP sent for added members.
	Display map[string]string
	// RemoveAll removes every member before Add is applied.
	RemoveAll bool
}

// Actor is who makes a change, for the audit trail.
type Actor struct {
	Kind string // "scim-token", "user", "system", "cli"
	Name string
}

func (a Actor) String() string { return a.Kind + ":" + a.Name }
