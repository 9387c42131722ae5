package directory

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrGone reports a feed cursor older than the events still kept: the
// consumer must resynchronise by listing, then follow the feed from its
// head.
var ErrGone = errors.New("gone")

// Gonef returns an ErrGone with a message for the client.
func Gonef(format string, args ...any) error {
	return &Error{Kind: ErrGone, Msg: fmt.Sprintf(format, args...)}
}

// Event types: what a platform learns of (docs/events.md).
const (
	EventUserCreated     = "user.created"
	EventUserUpdated     = "user.updated"
	EventUserDeactivated = "user.deactivated"
	EventUserReactivated = "user.reactivated"
	EventUserRemoved     = "user.removed"

	EventGroupCreated       = "group.created"
	EventGroupUpdated       = "group.updated"
	EventGroupDeleted       = "group.deleted"
	EventGroupMemberAdded   = "group.member_added"
	EventGroupMemberRemoved = "group.member_removed"

	EventRoleGranted = "role.granted"
	EventRoleRevoked = "role.revoked"

	EventGitIdentityMapped   = "git_identity.mapped"
	EventGitIdentityUnmapped = "git_identity.unmapped"

	EventServiceAccountCreated  = "service_account.created"
	EventServiceAccountUpdated  = "service_account.updated"
	EventServiceAccountDisabled = "service_account.disabled"
	EventServiceAccountEnabled  = "service_account.enabled"
	EventServiceAccountDeleted  = "service_account.deleted"

	EventInvitationCreated  = "invitation.created"
	EventInvitationAccepted = "invitation.accepted"
	EventInvitationRevoked  = "invitation.revoked"

	EventSSOLogin = "sso.login"
)

// Resource types: what an event is about. Events of one resource (type
// and id) reach the feed in the order their changes committed. Role
// events are about the user (or service account) whose role changed, and
// group.member_* events about the group.
const (
	ResourceUser           = "user"
	ResourceServiceAccount = "service_account"
	ResourceGroup          = "group"
	ResourceGitIdentity    = "git_identity"
	ResourceInvitation     = "invitation"
)

// EventTypes lists every event type, in documentation order.
var EventTypes = []string{
	EventUserCreated, EventUserUpdated, EventUserDeactivated, EventUserReactivated, EventUserRemoved,
	EventGroupCreated, EventGroupUpdated, EventGroupDeleted, EventGroupMemberAdded, EventGroupMemberRemoved,
	EventRoleGranted, EventRoleRevoked,
	EventGitIdentityMapped, EventGitIdentityUnmapped,
	EventServiceAccountCreated, EventServiceAccountUpdated, EventServiceAccountDisabled,
	EventServiceAccountEnabled, EventServiceAccountDeleted,
	EventInvitationCreated, EventInvitationAccepted, EventInvitationRevoked,
	EventSSOLogin,
}

// MaxEventTypeFilter bounds how many types one feed request may name.
const MaxEventTypeFilter = 32

// ParseEventTypes reads a comma-separated list of event types. A type may
// end in ".*" to name its whole family ("user.*"). Unknown types are
// refused so that a typo does not silently filter everything out. An
// empty list means every type.
func ParseEventTypes(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > MaxEventTypeFilter {
		return nil, Invalidf("types names at most %d event types", MaxEventTypeFilter)
	}
	seen := map[string]bool{}
	var out []string
	for _, p := range parts {
		p = strings.TrimSpace(p)
		matched := false
		for _, t := range EventTypes {
			if t == p || (strings.HasSuffix(p, ".*") && strings.HasPrefix(t, p[:len(p)-1])) {
				matched = true
				if !seen[t] {
					seen[t] = true
					out = append(out, t)
				}
			}
		}
		if !matched {
			return nil, Invalidf("unknown event type %q", p)
		}
	}
	return out, nil
}

// Event is one committed change, as the feed and webhooks deliver it.
type Event struct {
	// Seq is the event's position in the feed: every event of the
	// organization with a lower Seq was committed and numbered before it.
	Seq          int64
	Type         string
	OrgID        string
	OccurredAt   time.Time
	Actor        Actor
	ResourceType string
	ResourceID   string
	// Data is the resource as the admin API renders it, at the change.
	Data json.RawMessage
}

// EventID is the event's stable id, for consumers to deduplicate by:
// the same across the feed, webhook deliveries and redeliveries.
func (e Event) EventID() string { return "evt_" + strconv.FormatInt(e.Seq, 10) }

// cursorPrefix marks a feed cursor; the rest is the Seq of the last event
// the consumer has seen.
const cursorPrefix = "c1_"

// Cursor is the feed position just after e.
func (e Event) Cursor() string { return FeedCursor(e.Seq) }

// FeedCursor is the cursor of feed position seq (0: the beginning).
func FeedCursor(seq int64) string { return cursorPrefix + strconv.FormatInt(seq, 10) }

// ParseCursor reads a feed cursor; "" is the beginning of the feed.
func ParseCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	rest, ok := strings.CutPrefix(s, cursorPrefix)
	if !ok || rest == "" || len(rest) > 19 {
		return 0, Invalidf("cursor %q is not a cursor this feed gave out", truncate(s, 40))
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != rest {
		return 0, Invalidf("cursor %q is not a cursor this feed gave out", truncate(s, 40))
	}
	return n, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// eventJSON is the event as consumers receive it, by the feed and by
// webhooks alike: one shape, so that a consumer can take either.
type eventJSON struct {
	ID             string          `json:"id"`
	Cursor         string          `json:"cursor"`
	Type           string          `json:"type"`
	OrganizationID string          `json:"organizationId"`
	OccurredAt     time.Time       `json:"occurredAt"`
	Actor          eventActorJSON  `json:"actor"`
	ResourceType   string          `json:"resourceType"`
	ResourceID     string          `json:"resourceId"`
	Data           json.RawMessage `json:"data"`
}

type eventActorJSON struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// MarshalJSON renders the event for consumers (docs/events.md).
func (e Event) MarshalJSON() ([]byte, error) {
	data := e.Data
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	return json.Marshal(eventJSON{
		ID: e.EventID(), Cursor: e.Cursor(), Type: e.Type, OrganizationID: e.OrgID,
		OccurredAt: e.OccurredAt.UTC(), Actor: eventActorJSON(e.Actor),
		ResourceType: e.ResourceType, ResourceID: e.ResourceID, Data: data,
	})
}
