package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// Outbound webhook subscriptions (docs/events.md, "Webhooks"). A signing
// secret is answered once, by the create and by a rotation; reads never
// hold one.

// SubscriptionService manages subscriptions (webhooks.Subscriptions is
// one): it checks target URLs against the outbound policy and seals
// signing secrets, so the API never holds a secret at rest. Errors:
// ErrNotFound (no such subscription or delivery in the organization),
// ErrInvalid (a bad field).
type SubscriptionService interface {
	Create(ctx context.Context, actor directory.Actor, orgID string, in directory.SubscriptionInput) (directory.Subscription, string, error)
	List(ctx context.Context, orgID string) ([]directory.Subscription, error)
	Get(ctx context.Context, orgID, id string) (directory.Subscription, error)
	Update(ctx context.Context, actor directory.Actor, orgID, id string, c directory.SubscriptionChange) (directory.Subscription, error)
	Delete(ctx context.Context, actor directory.Actor, orgID, id string) error
	Rotate(ctx context.Context, actor directory.Actor, orgID, id string, revokePrevious bool) (directory.Subscription, string, error)
	Deliveries(ctx context.Context, orgID, id string, q postgres.DeliveryQuery) ([]directory.Delivery, int, error)
	Redeliver(ctx context.Context, actor directory.Actor, orgID, id string, deliveryID int64) (directory.Delivery, error)
}

// errNoWebhooks answers every subscription route of a service with no
// secret key: a signing secret could not be sealed, nor opened to sign.
var errNoWebhooks = &apiError{kind: kindUnavailable, msg: "outbound webhooks are off on this service: it has no secret key (SCIMBRIDGE_SECRET_KEY) to seal signing secrets with; ask its operator"}

type subscriptionJSON struct {
	ID          string   `json:"id"`
	URL         string   `json:"url"`
	EventTypes  []string `json:"eventTypes"`
	Description string   `json:"description"`
	Enabled     bool     `json:"enabled"`
	// DisabledReason is "failing" when the service disabled it.
	DisabledReason      string     `json:"disabledReason,omitempty"`
	DisabledAt          *time.Time `json:"disabledAt,omitempty"`
	FailingSince        *time.Time `json:"failingSince,omitempty"`
	PreviousSecretUntil *time.Time `json:"previousSecretUntil,omitempty"`
	CreatedAt           time.Time  `json:"createdAt"`
	UpdatedAt           time.Time  `json:"updatedAt"`
}

type subscriptionWithSecretJSON struct {
	subscriptionJSON
	Secret string `json:"secret"`
}

func renderSubscription(s directory.Subscription) subscriptionJSON {
	types := s.EventTypes
	if types == nil {
		types = []string{}
	}
	return subscriptionJSON{ID: s.ID, URL: s.URL, EventTypes: types, Description: s.Description, Enabled: s.Enabled,
		DisabledReason: s.DisabledReason, DisabledAt: s.DisabledAt, FailingSince: s.FailingSince,
		PreviousSecretUntil: s.PreviousSecretUntil, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
}

type deliveryJSON struct {
	ID            int64      `json:"id"`
	EventID       string     `json:"eventId"`
	EventType     string     `json:"eventType"`
	ResourceType  string     `json:"resourceType"`
	ResourceID    string     `json:"resourceId"`
	State         string     `json:"state"`
	Attempts      int        `json:"attempts"`
	StatusCode    int        `json:"statusCode,omitempty"`
	LatencyMS     int        `json:"latencyMs"`
	LastError     string     `json:"lastError,omitempty"`
	CreatedAt     time.Time  `json:"createdAt"`
	LastAttemptAt *time.Time `json:"lastAttemptAt,omitempty"`
	NextAttemptAt *time.Time `json:"nextAttemptAt,omitempty"`
	FinishedAt    *time.Time `json:"finishedAt,omitempty"`
	RedeliveryOf  int64      `json:"redeliveryOf,omitempty"`
}

func renderDelivery(d directory.Delivery) deliveryJSON {
	return deliveryJSON{ID: d.ID, EventID: d.EventID(), EventType: d.EventType, ResourceType: d.ResourceType, ResourceID: d.ResourceID,
		State: d.State, Attempts: d.Attempts, StatusCode: d.StatusCode, LatencyMS: d.LatencyMS, LastError: d.LastError,
		CreatedAt: d.CreatedAt, LastAttemptAt: d.LastAttemptAt, NextAttemptAt: d.NextAttemptAt, FinishedAt: d.FinishedAt,
		RedeliveryOf: d.RedeliveryOf}
}

func (h *Handler) listSubscriptions(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.subs == nil {
		return errNoWebhooks
	}
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	all, err := h.subs.List(r.Context(), c.org.ID)
	if err != nil {
		return err
	}
	page := window(all, p)
	out := list[subscriptionJSON]{Items: make([]subscriptionJSON, 0, len(page.Items)), Total: page.Total, Offset: p.offset, Limit: p.limit}
	for _, s := range page.Items {
		out.Items = append(out.Items, renderSubscription(s))
	}
	return h.writeJSON(w, r, http.StatusOK, out)
}

func (h *Handler) createSubscription(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.subs == nil {
		return errNoWebhooks
	}
	var req struct {
		URL         string   `json:"url"`
		EventTypes  []string `json:"eventTypes"`
		Description string   `json:"description"`
		Enabled     *bool    `json:"enabled"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	s, secret, err := h.subs.Create(r.Context(), c.actor, c.org.ID, directory.SubscriptionInput{
		URL: req.URL, EventTypes: req.EventTypes, Description: req.Description, Enabled: req.Enabled})
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusCreated, subscriptionWithSecretJSON{renderSubscription(s), secret})
}

func (h *Handler) getSubscription(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.subs == nil {
		return errNoWebhooks
	}
	s, err := h.subs.Get(r.Context(), c.org.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, renderSubscription(s))
}

func (h *Handler) updateSubscription(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.subs == nil {
		return errNoWebhooks
	}
	var req struct {
		URL         *string   `json:"url"`
		EventTypes  *[]string `json:"eventTypes"`
		Description *string   `json:"description"`
		Enabled     *bool     `json:"enabled"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	s, err := h.subs.Update(r.Context(), c.actor, c.org.ID, r.PathValue("id"), directory.SubscriptionChange{
		URL: req.URL, EventTypes: req.EventTypes, Description: req.Description, Enabled: req.Enabled})
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, renderSubscription(s))
}

func (h *Handler) deleteSubscription(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.subs == nil {
		return errNoWebhooks
	}
	if err := h.subs.Delete(r.Context(), c.actor, c.org.ID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) rotateSubscription(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.subs == nil {
		return errNoWebhooks
	}
	var req struct {
		RevokePrevious bool `json:"revokePrevious"`
	}
	if r.ContentLength != 0 {
		if err := h.decode(w, r, &req); err != nil {
			return err
		}
	}
	s, secret, err := h.subs.Rotate(r.Context(), c.actor, c.org.ID, r.PathValue("id"), req.RevokePrevious)
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, subscriptionWithSecretJSON{renderSubscription(s), secret})
}

func (h *Handler) listDeliveries(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.subs == nil {
		return errNoWebhooks
	}
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	ds, total, err := h.subs.Deliveries(r.Context(), c.org.ID, r.PathValue("id"),
		postgres.DeliveryQuery{State: r.URL.Query().Get("state"), Offset: p.offset, Limit: p.limit})
	if err != nil {
		return err
	}
	out := list[deliveryJSON]{Items: make([]deliveryJSON, 0, len(ds)), Total: total, Offset: p.offset, Limit: p.limit}
	for _, d := range ds {
		out.Items = append(out.Items, renderDelivery(d))
	}
	return h.writeJSON(w, r, http.StatusOK, out)
}

func (h *Handler) redeliver(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.subs == nil {
		return errNoWebhooks
	}
	id, err := strconv.ParseInt(r.PathValue("delivery"), 10, 64)
	if err != nil || id <= 0 {
		return directory.NotFoundf("delivery %q not found", r.PathValue("delivery"))
	}
	d, err := h.subs.Redeliver(r.Context(), c.actor, c.org.ID, r.PathValue("id"), id)
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusAccepted, renderDelivery(d))
}
