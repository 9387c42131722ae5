package webhooks

import (
	"context"
	"strings"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/egress"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// SubscriptionStore is what managing subscriptions needs of the store.
type SubscriptionStore interface {
	CreateSubscription(ctx context.Context, actor directory.Actor, s directory.Subscription, seal func(id string) []byte) (directory.Subscription, error)
	Subscriptions(ctx context.Context, orgID string) ([]directory.Subscription, error)
	Subscription(ctx context.Context, orgID, id string) (directory.Subscription, error)
	UpdateSubscription(ctx context.Context, actor directory.Actor, orgID, id string, p postgres.SubscriptionPatch) (directory.Subscription, error)
	DeleteSubscription(ctx context.Context, actor directory.Actor, orgID, id string) error
	RotateSubscriptionSecret(ctx context.Context, actor directory.Actor, orgID, id string, sealed []byte, revokePrevious bool) (directory.Subscription, error)
	Deliveries(ctx context.Context, orgID, subID string, q postgres.DeliveryQuery) ([]directory.Delivery, int, error)
	Redeliver(ctx context.Context, actor directory.Actor, orgID, subID string, deliveryID int64, now time.Time) (directory.Delivery, error)
}

// Sealer seals and opens secrets (a *secretbox.Box).
type Sealer interface {
	Seal(plaintext, context []byte) []byte
	Open(sealed, context []byte) ([]byte, error)
}

// Subscriptions manages an organization's subscriptions for the admin
// API, the CLI and the console: it checks a target URL against the
// outbound policy before it is saved (the worker checks it again at
// connect time), and mints and seals signing secrets, which it returns
// once.
type Subscriptions struct {
	Store  SubscriptionStore
	Box    Sealer
	Egress egress.Policy
	// Now is the clock of redeliveries (due now); default time.Now.
	Now func() time.Time
}

func (m Subscriptions) checkURL(raw string) error {
	if err := directory.CheckSubscriptionURL(raw); err != nil {
		return err
	}
	if err := m.Egress.CheckURL(raw); err != nil {
		if m.Egress.AllowPrivate {
			return directory.Invalidf("url is not allowed by this service's outbound policy")
		}
		return directory.Invalidf("url is not allowed by this service's outbound policy: https to public addresses only (its operator can allow private networks with --allow-private-networks)")
	}
	return nil
}

func eventTypes(types []string) ([]string, error) {
	if len(types) > directory.MaxEventTypeFilter {
		return nil, directory.Invalidf("eventTypes names at most %d event types", directory.MaxEventTypeFilter)
	}
	for _, t := range types {
		if t == "" || strings.Contains(t, ",") {
			return nil, directory.Invalidf("eventTypes: %q is not an event type", t)
		}
	}
	out, err := directory.ParseEventTypes(strings.Join(types, ","))
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// Create makes a subscription and returns it with its signing secret,
// which is shown this once. ErrInvalid: a bad URL, type or description,
// or too many subscriptions.
func (m Subscriptions) Create(ctx context.Context, actor directory.Actor, orgID string, in directory.SubscriptionInput) (directory.Subscription, string, error) {
	if err := m.checkURL(in.URL); err != nil {
		return directory.Subscription{}, "", err
	}
	types, err := eventTypes(in.EventTypes)
	if err != nil {
		return directory.Subscription{}, "", err
	}
	if err := directory.CheckSubscriptionDescription(in.Description); err != nil {
		return directory.Subscription{}, "", err
	}
	enabled := in.Enabled == nil || *in.Enabled
	secret := directory.NewSecret(directory.SubscriptionSecretPrefix)
	s, err := m.Store.CreateSubscription(ctx, actor, directory.Subscription{OrgID: orgID, URL: in.URL, EventTypes: types,
		Description: in.Description, Enabled: enabled}, func(id string) []byte {
		return m.Box.Seal([]byte(secret), SecretContext(orgID, id))
	})
	if err != nil {
		return directory.Subscription{}, "", err
	}
	return s, secret, nil
}

// List lists the organization's subscriptions.
func (m Subscriptions) List(ctx context.Context, orgID string) ([]directory.Subscription, error) {
	return m.Store.Subscriptions(ctx, orgID)
}

// Get returns one subscription. ErrNotFound.
func (m Subscriptions) Get(ctx context.Context, orgID, id string) (directory.Subscription, error) {
	return m.Store.Subscription(ctx, orgID, id)
}

// Update changes a subscription. ErrNotFound; ErrInvalid.
func (m Subscriptions) Update(ctx context.Context, actor directory.Actor, orgID, id string, c directory.SubscriptionChange) (directory.Subscription, error) {
	p := postgres.SubscriptionPatch{URL: c.URL, Description: c.Description, Enabled: c.Enabled}
	if c.URL != nil {
		if err := m.checkURL(*c.URL); err != nil {
			return directory.Subscription{}, err
		}
	}
	if c.EventTypes != nil {
		types, err := eventTypes(*c.EventTypes)
		if err != nil {
			return directory.Subscription{}, err
		}
		p.EventTypes = &types
	}
	if c.Description != nil {
		if err := directory.CheckSubscriptionDescription(*c.Description); err != nil {
			return directory.Subscription{}, err
		}
	}
	return m.Store.UpdateSubscription(ctx, actor, orgID, id, p)
}

// Delete deletes a subscription. ErrNotFound.
func (m Subscriptions) Delete(ctx context.Context, actor directory.Actor, orgID, id string) error {
	return m.Store.DeleteSubscription(ctx, actor, orgID, id)
}

// Rotate gives a subscription a new signing secret and returns it (shown
// this once). The previous one keeps signing beside it for
// postgres.SubscriptionOverlap unless revokePrevious. ErrNotFound.
func (m Subscriptions) Rotate(ctx context.Context, actor directory.Actor, orgID, id string, revokePrevious bool) (directory.Subscription, string, error) {
	secret := directory.NewSecret(directory.SubscriptionSecretPrefix)
	s, err := m.Store.RotateSubscriptionSecret(ctx, actor, orgID, id, m.Box.Seal([]byte(secret), SecretContext(orgID, id)), revokePrevious)
	if err != nil {
		return directory.Subscription{}, "", err
	}
	return s, secret, nil
}

// Deliveries pages a subscription's delivery log, newest first.
// ErrNotFound; ErrInvalid: a bad state.
func (m Subscriptions) Deliveries(ctx context.Context, orgID, id string, q postgres.DeliveryQuery) ([]directory.Delivery, int, error) {
	return m.Store.Deliveries(ctx, orgID, id, q)
}

// Redeliver queues a delivery's event again, due now. ErrNotFound.
func (m Subscriptions) Redeliver(ctx context.Context, actor directory.Actor, orgID, id string, deliveryID int64) (directory.Delivery, error) {
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	return m.Store.Redeliver(ctx, actor, orgID, id, deliveryID, now())
}
