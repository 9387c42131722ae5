// Package oidc signs people in to an organization through its OpenID
// Provider (Okta, Entra ID, any OpenID Connect IdP), and keeps them signed
// in with server-side sessions.
//
// Routes:
//
//	GET  /auth/{org}/login?return_to=/path  starts the authorization code flow
//	GET  /auth/callback                     finishes it and sets the session
//	POST /auth/{org}/logout                 ends the session
//	GET  /auth/{org}/me                     the session's user and CSRF token, as JSON
//	GET  /auth/{org}/breakglass?token=…     confirms a one-time break-glass link
//	POST /auth/{org}/breakglass             spends it: a session for the owner
//	GET  /invite/accept?token=…             a join link: login, then acceptance
//
// The flow uses PKCE (S256), state and nonce, all bound to a short-lived
// HMAC-signed HttpOnly cookie, so that no server-side state is needed
// between the redirect and the callback: any replica can finish a login
// another one started. The ID token is verified by go-oidc (signature via
// the provider's JWKS, issuer, audience, expiry) and the nonce here; the
// login is then resolved to a user by the store (postgres.LinkLogin).
package oidc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/egress"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// Store is what login needs of the store (a *postgres.DB).
type Store interface {
	Organization(ctx context.Context, slug string) (directory.Organization, error)
	IdPSettings(ctx context.Context, orgID string) (directory.IdPSettings, error)
	LinkLogin(ctx context.Context, orgID string, c directory.LoginClaims, policy directory.JITPolicy) (directory.User, bool, error)
	CreateSession(ctx context.Context, orgID, userID string, ttl time.Duration) (string, error)
	SessionUser(ctx context.Context, orgSlug, id string, idle time.Duration) (postgres.Session, directory.User, error)
	RevokeSession(ctx context.Context, orgSlug, id string) error
	InvitationByToken(ctx context.Context, secret string) (directory.Invitation, directory.Organization, error)
	AcceptInvitation(ctx context.Context, secret string, login directory.Login) (directory.Invitation, directory.User, error)
	BreakGlassLinkOrganization(ctx context.Context, orgSlug, secret string) (directory.Organization, error)
	UseBreakGlassLink(ctx context.Context, orgSlug, secret, from string) (directory.Organization, directory.User, error)
}

// Box seals and opens secrets (a *secretbox.Box).
type Box interface {
	Seal(plaintext, context []byte) []byte
	Open(sealed, context []byte) ([]byte, error)
}

// SecretContext binds a sealed client secret to its organization: a
// sealed secret copied to another organization's row does not open.
func SecretContext(orgID string) []byte { return []byte("idp/" + orgID + "/client_secret") }

// Config configures the Handler.
type Config struct {
	Store Store
	Box   Box // opens the sealed client secrets
	// CookieKey signs the login state cookie (HMAC-SHA256); at least 32
	// bytes, the same on every replica.
	CookieKey []byte
	// PublicURL is the service's external origin, such as
	// https://scim.example.com; the redirect URI is PublicURL/auth/callback.
	PublicURL string
	// SecureCookies marks cookies Secure even when the request arrived
	// over plain HTTP (TLS ends at a proxy).
	SecureCookies bool
	SessionTTL    time.Duration // absolute lifetime; default 12h
	IdleTimeout   time.Duration // default 1h
	// Egress is where requests to the provider may go (discovery, JWKS,
	// token, userinfo); the zero Policy allows https to public addresses
	// only.
	Egress egress.Policy
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultSessionTTL  = 12 * time.Hour
	DefaultIdleTimeout = time.Hour
	stateTTL           = 10 * time.Minute
	providerTTL        = 5 * time.Minute
)

// Handler serves the login routes.
type Handler struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client // NewHTTPClient(cfg.Egress)

	mu        sync.Mutex
	providers map[string]cachedProvider // by issuer
}

type cachedProvider struct {
	p       *gooidc.Provider
	fetched time.Time
}

// New returns the login handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Box == nil {
		return nil, errors.New("oidc: a store and a secret box are required")
	}
	if len(cfg.CookieKey) < 32 {
		return nil, errors.New("oidc: the cookie key must be at least 32 bytes")
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if !strings.HasPrefix(cfg.PublicURL, "https://") && !strings.HasPrefix(cfg.PublicURL, "http://") {
		return nil, fmt.Errorf("oidc: public URL %q must be an http(s) origin", cfg.PublicURL)
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, log: cfg.Logger, client: NewHTTPClient(cfg.Egress), providers: map[string]cachedProvider{}}, nil
}

// Mount registers the routes.
func (h *Handler) Mount(mux interface{ Handle(string, http.Handler) }) {
	for _, rt := range h.routes() {
		mux.Handle(rt.pattern, rt.handler)
	}
}

type route struct {
	pattern string
	handler http.HandlerFunc
}

func (h *Handler) routes() []route {
	return []route{
		{"GET /auth/{org}/login", h.login},
		{"GET /auth/callback", h.callback},
		{"POST /auth/{org}/logout", h.logout},
		{"GET /auth/{org}/me", h.me},
		{"GET /auth/{org}/breakglass", h.breakGlassPage},
		{"POST /auth/{org}/breakglass", h.breakGlass},
		{"GET /invite/accept", h.acceptInvitation},
	}
}

// MountOff mounts, where Mount would, an answer that says why sign-in is
// unavailable: without a secret key the service can neither seal IdP
// client secrets nor sign login cookies. A clear 503 beats a 404 that
// reads as a wrong URL.
func MountOff(mux interface{ Handle(string, http.Handler) }, reason string) {
	off := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("sign-in is off on this server: " + reason + "\n"))
	})
	for _, rt := range (*Handler)(nil).routes() { // the patterns only: no handler runs
		mux.Handle(rt.pattern, off)
	}
}

// ctx carries the configured HTTP client to go-oidc and oauth2.
func (h *Handler) ctx(ctx context.Context) context.Context {
	return gooidc.ClientContext(ctx, h.client)
}

// provider returns the issuer's discovered provider, cached for a few
// minutes: discovery on every login would tie login latency to the IdP's
// metadata endpoint, and a cached Provider also keeps its JWKS cache. The
// endpoints are checked as when the settings were saved (the document may
// have changed since), and the client checks each address it connects to.
func (h *Handler) provider(ctx context.Context, issuer string) (*gooidc.Provider, error) {
	h.mu.Lock()
	c, ok := h.providers[issuer]
	h.mu.Unlock()
	if ok && time.Since(c.fetched) < providerTTL {
		return c.p, nil
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// The Provider keeps the client of this context for its key fetches,
	// not the context itself, so a request-scoped context is fine here.
	p, err := discover(dctx, h.client, h.cfg.Egress, h.log, issuer)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.providers[issuer] = cachedProvider{p: p, fetched: time.Now()}
	h.mu.Unlock()
	return p, nil
}

// ValidateSettings checks that issuer answers OpenID Connect discovery
// under the outbound policy p (and names itself issuer, and endpoints the
// policy allows), for saving IdP settings with a clear error rather than
// failing at the first login. The error is one of two fixed sentences
// (see discover); the detail goes to log (nil: nowhere).
func ValidateSettings(ctx context.Context, p egress.Policy, log *slog.Logger, issuer string) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	_, err := discover(ctx, NewHTTPClient(p), p, log, issuer)
	return err
}

// SettingsStore is what Settings needs to save (a *postgres.DB).
type SettingsStore interface {
	SetIdPSettings(ctx context.Context, actor directory.Actor, s directory.IdPSettings) (directory.IdPSettings, error)
}

// Settings reads and saves IdP settings, for `scimbridge idp set` and the
// admin API alike, so that the secret is sealed and discovery checked the
// same way for both.
type Settings struct {
	Store interface {
		SettingsStore
		IdPSettings(ctx context.Context, orgID string) (directory.IdPSettings, error)
	}
	Box    Box
	Egress egress.Policy // where discovery may go
	Logger *slog.Logger  // why discovery failed; nil: nowhere
}

// IdPSettings returns the organization's settings. ErrNotFound: none.
func (s Settings) IdPSettings(ctx context.Context, orgID string) (directory.IdPSettings, error) {
	return s.Store.IdPSettings(ctx, orgID)
}

// SaveIdPSettings checks set, checks discovery, seals clientSecret (when
// not empty; empty keeps the stored one) and stores the settings.
//
// Scopes left empty are the defaults, openid, email and profile, plus
// groups when the provider's discovery document lists it in
// scopes_supported: Dex and Okta send no groups claim without it, and
// group mappings would then never apply to people who sign in.
func (s Settings) SaveIdPSettings(ctx context.Context, actor directory.Actor, set directory.IdPSettings, clientSecret string) (directory.IdPSettings, error) {
	defaultScopes := len(set.Scopes) == 0
	if err := set.Normalize(); err != nil {
		return set, err
	}
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	prov, err := discover(dctx, NewHTTPClient(s.Egress), s.Egress, log, set.Issuer)
	cancel()
	if err != nil {
		return set, err
	}
	if defaultScopes {
		var meta struct {
			Scopes []string `json:"scopes_supported"`
		}
		if prov.Claims(&meta) == nil && slices.Contains(meta.Scopes, "groups") {
			set.Scopes = append(set.Scopes, "groups")
		}
	}
	set.ClientSecretSealed = nil
	if clientSecret != "" {
		set.ClientSecretSealed = s.Box.Seal([]byte(clientSecret), SecretContext(set.OrgID))
	}
	return s.Store.SetIdPSettings(ctx, actor, set)
}
