// Package hooks receives Git hosts' push webhooks at /hooks/{org}/github
// and /hooks/{org}/gitlab: it bounds the body, verifies the signature
// against the organization's sealed secret, and stores every commit
// author and the pusher as Git observations (internal/githook parses).
//
// A push delivery is ingested once: its id (GitHub X-GitHub-Delivery,
// GitLab X-Gitlab-Event-UUID; both hosts always send it, and a push
// without it is refused with 400) and its body are recorded in the
// ingest's transaction, and a copy of either within a week is answered
// 200 "duplicate delivery" with nothing stored, so that the host does not
// retry it. The body counts because the id header is not signed (GitHub
// signs the body alone, GitLab sends a static token): a captured delivery
// replayed under a new id is still a copy. GitHub's "Redeliver" sends the
// same id and body, so it is ignored too; it has nothing to add, since
// the first copy was stored whole or not at all (and then not recorded).
package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/githook"
	"github.com/scimbridge/scimbridge/internal/httpserver"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// Store is what the webhooks need of the store. WebhookSecrets returns
// ErrNotFound for an unknown organization or provider;
// IngestWebhookDelivery returns ErrInvalid for bad observations (nothing
// is stored then), and duplicate for a delivery it already ingested.
type Store interface {
	WebhookSecrets(ctx context.Context, orgSlug, provider string) (postgres.WebhookKeys, error)
	WebhookSecretVerified(ctx context.Context, orgID, provider string) error
	IngestWebhookDelivery(ctx context.Context, orgID string, d postgres.WebhookDelivery, obs []directory.GitObservation) (res postgres.IngestResult, duplicate bool, err error)
}

// Opener opens sealed secrets (a *secretbox.Box).
type Opener interface {
	Open(sealed, context []byte) ([]byte, error)
}

// SecretContext binds a sealed webhook secret to its row.
func SecretContext(orgID, provider string) []byte { return []byte("webhook/" + orgID + "/" + provider) }

// Handler serves the webhooks.
type Handler struct {
	store Store
	box   Opener
	log   *slog.Logger
}

// New returns the webhook handler; box may be nil when no secret key is
// configured (then every delivery is refused).
func New(store Store, box Opener, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{store: store, box: box, log: log}
}

// Mount registers the routes.
func (h *Handler) Mount(mux interface{ Handle(string, http.Handler) }) {
	mux.Handle("POST /hooks/{org}/github", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, directory.GitProviderGitHub) }))
	mux.Handle("POST /hooks/{org}/gitlab", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, directory.GitProviderGitLab) }))
}

func reply(w http.ResponseWriter, status int, body map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, provider string) {
	httpserver.SetRoute(r, "POST /hooks/{org}/"+provider)
	if h.box == nil {
		// Without a secret key no webhook secret can be read: say so,
		// rather than let every delivery look like a bad signature.
		reply(w, http.StatusServiceUnavailable, map[string]any{"error": "webhooks are off on this server: it has no secret key (SCIMBRIDGE_SECRET_KEY)"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, githook.MaxPayload+1))
	if err != nil {
		reply(w, http.StatusBadRequest, map[string]any{"error": "the body could not be read"})
		return
	}
	if len(body) > githook.MaxPayload {
		reply(w, http.StatusRequestEntityTooLarge, map[string]any{"error": "payload larger than " + strconv.Itoa(githook.MaxPayload) + " bytes"})
		return
	}
	orgID, ok := h.verify(r, provider, body)
	if !ok {
		// Unknown organization, no secret, bad signature: one answer, and
		// nothing stored.
		reply(w, http.StatusUnauthorized, map[string]any{"error": "the signature does not verify for this organization"})
		return
	}
	var kind, idHeader string
	var parse func([]byte) ([]directory.GitObservation, error)
	if provider == directory.GitProviderGitHub {
		kind, parse, idHeader = githook.GitHubEvent(r.Header.Get("X-GitHub-Event")), githook.ParseGitHubPush, "X-GitHub-Delivery"
	} else {
		kind, parse, idHeader = githook.GitLabEvent(r.Header.Get("X-Gitlab-Event")), githook.ParseGitLabPush, "X-Gitlab-Event-UUID"
	}
	payload := body
	if provider == directory.GitProviderGitHub {
		// Before the ping's answer, so that a hook whose content type can
		// never deliver a push fails when it is made, not silently later.
		if payload, err = githook.GitHubPayload(r.Header.Get("Content-Type"), body); err != nil {
			reply(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
			return
		}
	}
	switch kind {
	case githook.KindPing:
		reply(w, http.StatusOK, map[string]any{"ok": true, "event": "ping"})
		return
	case githook.KindPush:
	default:
		reply(w, http.StatusAccepted, map[string]any{"ok": true, "ignored": "not a push event"})
		return
	}
	delivery := postgres.WebhookDelivery{Provider: provider, ID: r.Header.Get(idHeader), Body: body}
	if delivery.ID == "" || len(delivery.ID) > postgres.MaxDeliveryID {
		reply(w, http.StatusBadRequest, map[string]any{"error": "a push needs its delivery id in " + idHeader + " (at most " +
			strconv.Itoa(postgres.MaxDeliveryID) + " characters)"})
		return
	}
	obs, err := parse(payload)
	if err != nil {
		reply(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
		return
	}
	res, duplicate, err := h.store.IngestWebhookDelivery(r.Context(), orgID, delivery, obs)
	if err == nil && duplicate {
		reply(w, http.StatusOK, map[string]any{"ok": true, "ignored": "duplicate delivery"})
		return
	}
	if errors.Is(err, directory.ErrInvalid) {
		reply(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
		return
	}
	if err != nil {
		h.log.ErrorContext(r.Context(), "ingest webhook", "provider", provider, "err", err)
		reply(w, http.StatusInternalServerError, map[string]any{"error": "internal error"})
		return
	}
	reply(w, http.StatusOK, map[string]any{"ok": true, "observations": res.Observations, "newCommits": res.NewCommits})
}

func (h *Handler) verify(r *http.Request, provider string, body []byte) (string, bool) {
	if h.box == nil {
		return "", false
	}
	keys, err := h.store.WebhookSecrets(r.Context(), r.PathValue("org"), provider)
	orgID := keys.OrgID
	if err != nil {
		if !errors.Is(err, directory.ErrNotFound) {
			h.log.ErrorContext(r.Context(), "read webhook secret", "err", err)
		}
		return "", false
	}
	// The current secret, then the one a rotation replaced (for a day):
	// each check is constant-time, and at most two are made.
	for i, s := range keys.Sealed {
		secret, err := h.box.Open(s, SecretContext(orgID, provider))
		if err != nil {
			h.log.ErrorContext(r.Context(), "open webhook secret (was SCIMBRIDGE_SECRET_KEY changed?)", "err", err)
			continue
		}
		if provider == directory.GitProviderGitHub {
			err = githook.VerifyGitHub(secret, r.Header.Get("X-Hub-Signature-256"), body)
		} else {
			err = githook.VerifyGitLab(secret, r.Header.Get("X-Gitlab-Token"))
		}
		if err == nil {
			if i == 0 && !keys.CurrentVerified {
				// The Git host has switched to the current secret; a
				// later rotation may now retire the previous one.
				if err := h.store.WebhookSecretVerified(r.Context(), orgID, provider); err != nil {
					h.log.WarnContext(r.Context(), "record webhook secret use", "err", err)
				}
			}
			return orgID, true
		}
	}
	return orgID, false
}
