package directory

import (
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// A Subscription asks for an organization's events to be sent, signed, to
// a URL (outbound webhooks, docs/events.md).
type Subscription struct {
	ID    string
	OrgID string
	URL   string
	// EventTypes are the types sent; empty sends every type.
	EventTypes  []string
	Description string
	Enabled     bool
	// DisabledReason is SubscriptionFailing when the service disabled it
	// after persistent failure, "" otherwise.
	DisabledReason string
	DisabledAt     *time.Time
	// FailingSince is when the attempts began to fail with none
	// succeeding since; nil when the last one succeeded.
	FailingSince *time.Time
	// PreviousSecretUntil is when the secret replaced by the last
	// rotation stops signing; nil when it no longer does.
	PreviousSecretUntil *time.Time
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// SubscriptionInput is what a caller sets of a new subscription.
type SubscriptionInput struct {
	URL         string
	EventTypes  []string // empty: every type; "user.*" names a family
	Description string
	// Enabled is nil for the default (enabled).
	Enabled *bool
}

// SubscriptionChange is a partial update of a subscription; nil fields
// stay.
type SubscriptionChange struct {
	URL         *string
	EventTypes  *[]string
	Description *string
	Enabled     *bool
}

// SubscriptionFailing is the DisabledReason of a subscription the service
// disabled because every delivery kept failing.
const SubscriptionFailing = "failing"

// Bounds of subscriptions.
const (
	MaxSubscriptionsPerOrg     = 20
	MaxSubscriptionURL         = 2048
	MaxSubscriptionDescription = 500
)

// SubscriptionSecretPrefix marks a webhook signing secret.
const SubscriptionSecretPrefix = "scb_whsec_"

// CheckSubscriptionURL checks the form of a target URL: absolute http(s),
// no credentials, no fragment, bounded. Where it may point is the
// outbound policy's decision (internal/egress), made by the caller.
func CheckSubscriptionURL(raw string) error {
	if raw == "" {
		return Invalidf("url is required")
	}
	if len(raw) > MaxSubscriptionURL {
		return Invalidf("url is longer than %d bytes", MaxSubscriptionURL)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return Invalidf("url must be an absolute https URL")
	}
	if u.User != nil {
		return Invalidf("url must not carry credentials")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return Invalidf("url must not have a fragment")
	}
	return nil
}

// CheckSubscriptionDescription bounds a description.
func CheckSubscriptionDescription(s string) error {
	if len(s) > MaxSubscriptionDescription || !utf8.ValidString(s) {
		return Invalidf("description must be valid UTF-8 of at most %d bytes", MaxSubscriptionDescription)
	}
	return nil
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// A Delivery is one event sent (or to be sent) to a subscription: the
// subscription's delivery log.
type Delivery struct {
	ID             int64
	SubscriptionID string
	// Seq is the event's feed position; its EventID is "evt_<Seq>".
	Seq           int64
	EventType     string
	ResourceType  string
	ResourceID    string
	State         string
	Attempts      int
	StatusCode    int // of the last attempt; 0 when none answered
	LatencyMS     int // of the last attempt
	LastError     string
	CreatedAt     time.Time
	LastAttemptAt *time.Time
	NextAttemptAt *time.Time // pending only
	FinishedAt    *time.Time
	// RedeliveryOf is the delivery this one repeats, 0 for none.
	RedeliveryOf int64
}

// EventID is the id of the delivered event, as the receiver sees it.
func (d Delivery) EventID() string { return Event{Seq: d.Seq}.EventID() }
