// Package api serves scimbridge's admin API: JSON over HTTP under
// /api/v1/orgs/{org}/…, for the platform's "Org → Users" screens and for
// the platform's own questions "may this user do this here" (authorize)
// and "who pushed this commit" (git resolve, fed by git observations).
//
// Why it is shaped as it is:
//
//   - One route table (routes) is the single list of what is served: Mount
//     registers it, every handler is named after its pattern for metrics,
//     and a test compares it with the hand-written OpenAPI document, so
//     the document cannot drift from the code.
//   - Tenancy is decided before anything else: a caller authenticated for
//     organization A who names organization B in the URL is answered 404,
//     exactly as for an organization that does not exist, so that a token
//     never confirms that another tenant exists.
//   - Authorization is the caller's own effective role, computed by the
//     same domain code (directory.Effective) that answers authorize: there
//     is no second notion of "admin". Managing the organization needs
//     Org Admin; asking about oneself does not.
//   - Errors are RFC 9457 problem documents with stable type URIs, mapped
//     from the domain errors in one function (problemOf), so that a client
//     branches on type and never parses prose.
//   - Writes pass the caller to the store as the actor, and the store
//     writes the audit event in the transaction of the change.
//
// The operator routes (/api/v1/orgs, /api/v1/orgs/{org}) are the
// platform's, not an organization's: they create, list, rename and
// delete organizations, and take an operator token only (admitOperator),
// never the chain below; an operator token is in turn no credential on
// an organization's routes, since the chain does not know it.
//
// Authentication is a chain of Authenticators: bearer admin API tokens
// today; the login session of the OIDC issue joins the chain later. A
// session cookie is sent by the browser on its own, so writes it
// authenticates need CSRF protection (Config.CSRF); bearer tokens are
// never sent implicitly and need none.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/httpserver"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/internal/ratelimit"
)

// Store is what the admin API needs of the store. Each method's comment
// says which domain errors it returns; anything else is an internal error.
type Store interface {
	// AuthenticateAPI checks an admin API token: its own organization, its
	// owner (an active user) and the owner's effective permissions.
	// ErrUnauthorized: any failure.
	AuthenticateAPI(ctx context.Context, secret string) (postgres.APIAuth, error)
	// AuthenticateAPIAndSubject is AuthenticateAPI and AuthorizeSubject in
	// the token's organization, in one round trip. err is
	// AuthenticateAPI's; subjErr is AuthorizeSubject's.
	AuthenticateAPIAndSubject(ctx context.Context, secret string, q postgres.AuthorizeQuery) (a postgres.APIAuth, s postgres.AuthorizeSubject, subjErr, err error)
	// Access computes a user's effective permissions. ErrNotFound: a
	// malformed id (an unknown one has no permissions).
	Access(ctx context.Context, orgID, userID string) (directory.Access, error)
	// AuthorizeSubject finds a user as FindMember does, with their
	// effective permissions as far as they decide on the workspace or
	// target asked about, and that workspace. ErrNotFound, ErrConflict: as
	// FindMember.
	AuthorizeSubject(ctx context.Context, orgID string, q postgres.AuthorizeQuery) (postgres.AuthorizeSubject, error)

	// Members lists users of every source. ErrInvalid: a bad status.
	Members(ctx context.Context, orgID string, q postgres.MemberQuery) ([]directory.User, int, error)
	// Listing lists users and pending invitations as one list.
	// ErrInvalid: a bad status.
	Listing(ctx context.Context, orgID string, q postgres.MemberQuery) ([]postgres.Listed, int, error)
	// Member returns one user by id. ErrNotFound.
	Member(ctx context.Context, orgID, id string) (directory.User, error)
	// FindMember finds a user by id, userName or email. ErrNotFound;
	// ErrConflict: an email several users share.
	FindMember(ctx context.Context, orgID, ref string) (directory.User, error)
	// UserNames maps user ids to userNames; unknown ids are left out.
	UserNames(ctx context.Context, orgID string, ids []string) (map[string]string, error)
	// RemoveMember removes a user no IdP manages. ErrNotFound;
	// ErrConflict: IdP-managed, or the break-glass owner.
	RemoveMember(ctx context.Context, actor directory.Actor, orgID, id string) (directory.User, error)

	// Workspaces lists workspaces by name.
	Workspaces(ctx context.Context, orgID string) ([]directory.Workspace, error)
	// Workspace finds one by id or name. ErrNotFound.
	Workspace(ctx context.Context, orgID, idOrName string) (directory.Workspace, error)
	// WorkspaceOf finds the workspace holding a target. ErrNotFound.
	WorkspaceOf(ctx context.Context, orgID string, t directory.Target) (string, error)
	// CreateWorkspace: ErrInvalid (name, targets), ErrConflict (name or a
	// target taken).
	CreateWorkspace(ctx context.Context, actor directory.Actor, orgID, name string, targets []directory.Target) (directory.Workspace, error)
	// UpdateWorkspace: nil leaves name or targets as they are. Errors as
	// CreateWorkspace, and ErrNotFound.
	UpdateWorkspace(ctx context.Context, actor directory.Actor, orgID, id string, name *string, targets []directory.Target) (directory.Workspace, error)
	// DeleteWorkspace deletes it with its bindings. ErrNotFound.
	DeleteWorkspace(ctx context.Context, actor directory.Actor, orgID, id string) error

	// CreateBinding: ErrInvalid (shape, or a workspace or user not of the
	// organization), ErrConflict (the same binding exists).
	CreateBinding(ctx context.Context, actor directory.Actor, b directory.Binding) (directory.Binding, error)
	// GroupKnown reports whether a SCIM group or a sign-in's groups claim
	// has named the group a mapping of match and value applies to.
	GroupKnown(ctx context.Context, orgID string, match directory.GroupMatch, value string) (bool, error)
	// Bindings lists bindings.
	Bindings(ctx context.Context, orgID string, f postgres.BindingFilter) ([]directory.Binding, error)
	// DeleteBinding: ErrNotFound.
	DeleteBinding(ctx context.Context, actor directory.Actor, orgID, id string, groupsOnly bool) error

	// CreateSCIMTokenBy creates a SCIM token (audited) and returns its
	// secret. ErrInvalid: name; ErrConflict: a live token has the name.
	CreateSCIMTokenBy(ctx context.Context, actor directory.Actor, orgID, name string, ttl time.Duration) (directory.SCIMToken, string, error)
	// SCIMTokens lists SCIM tokens, revoked ones too.
	SCIMTokens(ctx context.Context, orgID string) ([]directory.SCIMToken, error)
	// RevokeSCIMTokenBy revokes a live SCIM token by name (audited).
	// ErrNotFound.
	RevokeSCIMTokenBy(ctx context.Context, actor directory.Actor, orgID, name string) (directory.SCIMToken, error)

	// CreateAPIToken: ErrInvalid (name, owner not of the organization),
	// ErrConflict (a live token has the name).
	CreateAPIToken(ctx context.Context, actor directory.Actor, orgID, ownerID, name string, ttl time.Duration) (postgres.APIToken, string, error)
	// APITokens lists API tokens, revoked ones too.
	APITokens(ctx context.Context, orgID string) ([]postgres.APIToken, error)
	// RevokeAPIToken revokes a live token by id or name. ErrNotFound.
	RevokeAPIToken(ctx context.Context, actor directory.Actor, orgID, idOrName string) error

	// ReconcileRuns lists the reconciler's recorded runs, newest first.
	ReconcileRuns(ctx context.Context, orgID string, limit int) ([]postgres.ReconcileRun, error)
	// ReconcileConflicts lists the reconciler's conflicts, open ones first.
	ReconcileConflicts(ctx context.Context, orgID string, q postgres.ConflictQuery) ([]postgres.ReconcileConflict, error)
	// QueryAudit lists audit events, newest first, with the total.
	QueryAudit(ctx context.Context, orgID string, q postgres.AuditQuery) ([]postgres.AuditEvent, int, error)
	// Events reads a page of the feed after position after, of the types
	// named (all when none), at most limit (1–1000). ErrGone: the
	// position is older than what retention keeps.
	Events(ctx context.Context, orgID string, after int64, types []string, limit int) (postgres.EventPage, error)
	// EventsHead is the position of the newest event in the feed.
	EventsHead(ctx context.Context, orgID string) (int64, error)

	// Invitations lists invitations, newest first; pending ones only when
	// pendingOnly.
	Invitations(ctx context.Context, orgID string, pendingOnly bool) ([]directory.Invitation, error)
	// CreateInvitation invites an address and queues its mail; bindings
	// are the initial grants (no subject); ttl 0 is the default (7 days).
	// ErrInvalid: address or grant; ErrConflict: the address is a
	// member's (the error names the member) or has a pending invitation.
	CreateInvitation(ctx context.Context, actor directory.Actor, orgID, email string, anyEmail bool, bindings []directory.Binding, ttl time.Duration) (directory.Invitation, error)
	// ResendInvitation queues another mail with a new link. ErrNotFound;
	// ErrConflict: not pending.
	ResendInvitation(ctx context.Context, actor directory.Actor, orgID, id string) error
	// RevokeInvitation withdraws a pending invitation. ErrNotFound;
	// ErrConflict: not pending.
	RevokeInvitation(ctx context.Context, actor directory.Actor, orgID, id string) error

	// IngestGitObservations records commit authors, idempotent by (repo,
	// sha). ErrInvalid: a bad observation (named by its 1-based index);
	// nothing is stored then.
	IngestGitObservations(ctx context.Context, orgID string, obs []directory.GitObservation) (postgres.IngestResult, error)
	// GitIdentities lists identities, most recently seen first, with the
	// total that match.
	GitIdentities(ctx context.Context, orgID string, q postgres.GitIdentityQuery) ([]directory.GitIdentity, int, error)
	// MapGitIdentity maps an identity to a user or service account.
	// ErrNotFound: no such identity; ErrConflict: someone else has it (the
	// error names them); ErrInvalid: the user is removed or unknown.
	MapGitIdentity(ctx context.Context, actor directory.Actor, orgID, identityID, userID string) (directory.GitIdentity, error)
	// UnmapGitIdentity releases an identity. ErrNotFound.
	UnmapGitIdentity(ctx context.Context, actor directory.Actor, orgID, identityID string) error
	// ResolveGit answers who an identity is, deactivated users included.
	// ErrNotFound: unknown or unmapped; ErrInvalid: no email or login.
	ResolveGit(ctx context.Context, orgID, provider, email, login string) (postgres.Attribution, error)

	// ServiceAccounts lists service accounts by name, deleted ones too.
	ServiceAccounts(ctx context.Context, orgID string) ([]directory.User, error)
	// CreateServiceAccount: ErrInvalid (name, owner not a current person),
	// ErrConflict (the name is any user's).
	CreateServiceAccount(ctx context.Context, actor directory.Actor, orgID, name, description, ownerID string) (directory.User, error)
	// SetServiceAccountEnabled disables or enables one by id or name; a
	// disabled account's tokens stop authenticating. ErrNotFound;
	// ErrConflict: deleted.
	SetServiceAccountEnabled(ctx context.Context, actor directory.Actor, orgID, idOrName string, enabled bool) (directory.User, error)
	// DeleteServiceAccount marks one removed, revoking its tokens and
	// releasing its bindings and Git identities. ErrNotFound.
	DeleteServiceAccount(ctx context.Context, actor directory.Actor, orgID, idOrName string) error

	OperatorStore
}

// OperatorStore is what the operator routes (/api/v1/orgs) need of the
// store.
type OperatorStore interface {
	// AuthenticateOperator checks an operator token. ErrUnauthorized: any
	// failure.
	AuthenticateOperator(ctx context.Context, secret string) (directory.OperatorToken, error)
	// ProvisionOrganization creates an organization with its break-glass
	// owner, a first SCIM token and a break-glass link, in one
	// transaction. ErrInvalid: slug, name, token name or lifetime;
	// ErrConflict: the slug is taken.
	ProvisionOrganization(ctx context.Context, actor directory.Actor, slug, name, tokenName string, ttl time.Duration) (postgres.ProvisionedOrganization, error)
	// OrganizationPage lists organizations by slug, with the total.
	OrganizationPage(ctx context.Context, offset, limit int) ([]directory.Organization, int, error)
	// Organization finds one by slug. ErrNotFound.
	Organization(ctx context.Context, slug string) (directory.Organization, error)
	// RenameOrganization sets the display name. ErrNotFound, ErrInvalid.
	RenameOrganization(ctx context.Context, actor directory.Actor, slug, name string) (directory.Organization, error)
	// DeleteOrganization deletes it and every row of it. ErrNotFound.
	DeleteOrganization(ctx context.Context, actor directory.Actor, slug string) (postgres.DeletedOrganization, error)
}

// Config configures the admin API.
type Config struct {
	Store  Store
	Logger *slog.Logger
	// MaxBody bounds request bodies (default 1 MiB).
	MaxBody int64
	// Authenticators are tried, in order, after the bearer API token, for
	// requests that carry none (a login session, later).
	Authenticators []Authenticator
	// CSRF checks a write authenticated by an ambient credential (a
	// cookie). nil refuses every such write: the check fails closed.
	CSRF func(*http.Request) error
	// RatePerOrg bounds each organization's requests per second (bursts
	// of twice that), shared by the live replicas (SetReplicas); 0 means
	// no bound.
	RatePerOrg float64
	// Now is the clock of the rate limit; default time.Now.
	Now func() time.Time
	// IdP reads and saves the organization's OpenID Provider settings;
	// nil answers those routes with 409 (SSO is off).
	IdP IdPService
	// PublicURL is the service's externally visible base URL, for the
	// SCIM base URL and the break-glass link the operator routes answer;
	// empty derives it from each request, as SCIM's meta.location does.
	PublicURL string
	// Subscriptions manages outbound webhook subscriptions; nil (no
	// secret key) answers those routes with 503.
	Subscriptions SubscriptionService
	// Provisioning backs the provisioning routes (health, the
	// mass-deactivation rail, preview, drift); nil takes Store when it
	// has them.
	Provisioning ProvisioningStore
}

// Handler serves the admin API.
type Handler struct {
	store   Store
	log     *slog.Logger
	maxBody int64
	auth    []Authenticator
	csrf    func(*http.Request) error
	idp     IdPService
	subs    SubscriptionService
	prov    ProvisioningStore
	limit   *ratelimit.PerOrg
	public  string
}

// New returns the admin API handler; Mount it on the server's mux.
func New(cfg Config) *Handler {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Provisioning == nil {
		cfg.Provisioning, _ = cfg.Store.(ProvisioningStore)
	}
	return &Handler{
		prov:    cfg.Provisioning,
		store:   cfg.Store,
		log:     cfg.Logger,
		maxBody: cfg.MaxBody,
		auth:    append([]Authenticator{bearer{store: cfg.Store}}, cfg.Authenticators...),
		csrf:    cfg.CSRF,
		idp:     cfg.IdP,
		subs:    cfg.Subscriptions,
		limit:   ratelimit.New(cfg.RatePerOrg, cfg.Now),
		public:  strings.TrimRight(cfg.PublicURL, "/"),
	}
}

// SetReplicas tells the handler how many replicas serve the API, itself
// included, so that each admits its share of RatePerOrg.
func (h *Handler) SetReplicas(n int) { h.limit.SetReplicas(n) }

// Prefix is where the admin API lives.
const Prefix = "/api/v1/"

// guard says who may call a route.
type guard int

const (
	// orgAdmin routes need the caller to be Org Admin (ActionManageOrg).
	orgAdmin guard = iota
	// selfOrAdmin routes are open to any member of the organization; the
	// handler lets a non-admin ask about themself only.
	selfOrAdmin
	// public routes need no authentication (the OpenAPI document).
	public
	// operator routes manage organizations themselves and need an
	// operator token; no credential of an organization is accepted.
	operator
)

// route is one entry of the route table.
type route struct {
	method  string
	pattern string // a ServeMux path pattern
	guard   guard
	serve   func(h *Handler, w http.ResponseWriter, r *http.Request, c *call) error
}

// admitsItself names the routes whose serve admits the caller itself, with
// admit or admitted, so that it can read the request first (authorize:
// see there); serve gets a nil call.
var admitsItself = map[string]bool{"POST /api/v1/orgs/{org}/authorize": true}

// routes is every route served, in one place: Mount registers these, and
// a test compares them with openapi.json.
var routes = []route{
	{"GET", "/api/v1/openapi.json", public, (*Handler).openAPI},

	{"GET", "/api/v1/orgs", operator, (*Handler).listOrgs},
	{"POST", "/api/v1/orgs", operator, (*Handler).createOrg},
	{"GET", "/api/v1/orgs/{org}", operator, (*Handler).getOrg},
	{"PATCH", "/api/v1/orgs/{org}", operator, (*Handler).renameOrg},
	{"DELETE", "/api/v1/orgs/{org}", operator, (*Handler).deleteOrg},

	{"GET", "/api/v1/orgs/{org}/users", orgAdmin, (*Handler).listUsers},
	{"GET", "/api/v1/orgs/{org}/users/{id}", orgAdmin, (*Handler).getUser},
	{"DELETE", "/api/v1/orgs/{org}/users/{id}", orgAdmin, (*Handler).removeUser},
	{"GET", "/api/v1/orgs/{org}/users/{id}/permissions", selfOrAdmin, (*Handler).permissions},
	{"POST", "/api/v1/orgs/{org}/authorize", selfOrAdmin, (*Handler).authorize},

	{"GET", "/api/v1/orgs/{org}/workspaces", orgAdmin, (*Handler).listWorkspaces},
	{"POST", "/api/v1/orgs/{org}/workspaces", orgAdmin, (*Handler).createWorkspace},
	{"GET", "/api/v1/orgs/{org}/workspaces/{id}", orgAdmin, (*Handler).getWorkspace},
	{"PATCH", "/api/v1/orgs/{org}/workspaces/{id}", orgAdmin, (*Handler).updateWorkspace},
	{"DELETE", "/api/v1/orgs/{org}/workspaces/{id}", orgAdmin, (*Handler).deleteWorkspace},

	{"GET", "/api/v1/orgs/{org}/bindings", orgAdmin, (*Handler).listBindings},
	{"POST", "/api/v1/orgs/{org}/bindings", orgAdmin, (*Handler).createBinding},
	{"DELETE", "/api/v1/orgs/{org}/bindings/{id}", orgAdmin, (*Handler).deleteBinding},
	{"GET", "/api/v1/orgs/{org}/mappings", orgAdmin, (*Handler).listMappings},
	{"POST", "/api/v1/orgs/{org}/mappings", orgAdmin, (*Handler).createMapping},
	{"DELETE", "/api/v1/orgs/{org}/mappings/{id}", orgAdmin, (*Handler).deleteMapping},

	{"GET", "/api/v1/orgs/{org}/scim-tokens", orgAdmin, (*Handler).listSCIMTokens},
	{"POST", "/api/v1/orgs/{org}/scim-tokens", orgAdmin, (*Handler).createSCIMToken},
	{"DELETE", "/api/v1/orgs/{org}/scim-tokens/{name}", orgAdmin, (*Handler).revokeSCIMToken},
	{"GET", "/api/v1/orgs/{org}/api-tokens", orgAdmin, (*Handler).listAPITokens},
	{"POST", "/api/v1/orgs/{org}/api-tokens", orgAdmin, (*Handler).createAPIToken},
	{"DELETE", "/api/v1/orgs/{org}/api-tokens/{id}", orgAdmin, (*Handler).revokeAPIToken},

	{"GET", "/api/v1/orgs/{org}/audit", orgAdmin, (*Handler).listAudit},

	{"GET", "/api/v1/orgs/{org}/events", orgAdmin, (*Handler).listEvents},
	{"GET", "/api/v1/orgs/{org}/events/head", orgAdmin, (*Handler).eventsHead},

	{"GET", "/api/v1/orgs/{org}/idp", orgAdmin, (*Handler).getIdP},
	{"PUT", "/api/v1/orgs/{org}/idp", orgAdmin, (*Handler).putIdP},

	{"GET", "/api/v1/orgs/{org}/invitations", orgAdmin, (*Handler).listInvitations},
	{"POST", "/api/v1/orgs/{org}/invitations", orgAdmin, (*Handler).createInvitation},
	{"POST", "/api/v1/orgs/{org}/invitations/{id}/resend", orgAdmin, (*Handler).resendInvitation},
	{"DELETE", "/api/v1/orgs/{org}/invitations/{id}", orgAdmin, (*Handler).revokeInvitation},

	{"POST", "/api/v1/orgs/{org}/git/observations", orgAdmin, (*Handler).ingestGitObservations},
	{"GET", "/api/v1/orgs/{org}/git/identities", orgAdmin, (*Handler).listGitIdentities},
	{"PUT", "/api/v1/orgs/{org}/git/identities/{id}/mapping", orgAdmin, (*Handler).mapGitIdentity},
	{"DELETE", "/api/v1/orgs/{org}/git/identities/{id}/mapping", orgAdmin, (*Handler).unmapGitIdentity},
	{"GET", "/api/v1/orgs/{org}/git/resolve", orgAdmin, (*Handler).resolveGit},

	{"GET", "/api/v1/orgs/{org}/service-accounts", orgAdmin, (*Handler).listServiceAccounts},
	{"POST", "/api/v1/orgs/{org}/service-accounts", orgAdmin, (*Handler).createServiceAccount},
	{"POST", "/api/v1/orgs/{org}/service-accounts/{name}/disable", orgAdmin, (*Handler).disableServiceAccount},
	{"POST", "/api/v1/orgs/{org}/service-accounts/{name}/enable", orgAdmin, (*Handler).enableServiceAccount},
	{"DELETE", "/api/v1/orgs/{org}/service-accounts/{name}", orgAdmin, (*Handler).deleteServiceAccount},

	{"GET", "/api/v1/orgs/{org}/subscriptions", orgAdmin, (*Handler).listSubscriptions},
	{"POST", "/api/v1/orgs/{org}/subscriptions", orgAdmin, (*Handler).createSubscription},
	{"GET", "/api/v1/orgs/{org}/subscriptions/{id}", orgAdmin, (*Handler).getSubscription},
	{"PATCH", "/api/v1/orgs/{org}/subscriptions/{id}", orgAdmin, (*Handler).updateSubscription},
	{"DELETE", "/api/v1/orgs/{org}/subscriptions/{id}", orgAdmin, (*Handler).deleteSubscription},
	{"POST", "/api/v1/orgs/{org}/subscriptions/{id}/rotate", orgAdmin, (*Handler).rotateSubscription},
	{"GET", "/api/v1/orgs/{org}/subscriptions/{id}/deliveries", orgAdmin, (*Handler).listDeliveries},
	{"POST", "/api/v1/orgs/{org}/subscriptions/{id}/deliveries/{delivery}/redeliver", orgAdmin, (*Handler).redeliver},

	{"GET", "/api/v1/orgs/{org}/git/conflicts", orgAdmin, (*Handler).listGitConflicts},
	{"GET", "/api/v1/orgs/{org}/reconcile/runs", orgAdmin, (*Handler).listReconcileRuns},

	{"GET", "/api/v1/orgs/{org}/provisioning/health", orgAdmin, (*Handler).provisioningHealth},
}

// Mount registers every route on mux with Go 1.22 method and path
// patterns, and a fallback that answers problem documents for paths and
// methods the API does not serve (instead of the mux's plain text).
func (h *Handler) Mount(mux interface{ Handle(string, http.Handler) }) {
	known := http.NewServeMux() // every path served, for any method
	allow := map[string][]string{}
	for _, rt := range routes {
		mux.Handle(rt.method+" "+rt.pattern, h.wrap(rt))
		if allow[rt.pattern] == nil {
			known.Handle(rt.pattern, http.NotFoundHandler())
		}
		allow[rt.pattern] = append(allow[rt.pattern], rt.method)
	}
	mux.Handle(Prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpserver.SetRoute(r, "unmatched /api/v1/")
		if _, p := known.Handler(r); p != "" {
			w.Header().Set("Allow", strings.Join(allow[p], ", "))
			h.fail(w, r, errMethod)
			return
		}
		h.fail(w, r, directory.NotFoundf("no such resource: %s", r.URL.Path))
	}))
}

// call is what the guard learned about the caller of a route.
type call struct {
	org   directory.Organization
	user  directory.User  // the caller, whose role authorizes the request
	actor directory.Actor // recorded on writes

	store Store
	once  sync.Once
	known bool             // the credential brought acc: callerAccess does not wait
	acc   directory.Access // the caller's effective permissions
	admin bool             // the caller is Org Admin
	err   error
}

// callerAccess computes the caller's effective permissions once; it is
// safe to call from several goroutines. admin tells whether the caller is
// Org Admin.
func (c *call) callerAccess(ctx context.Context) (acc directory.Access, admin bool, err error) {
	c.once.Do(func() { c.setAccess(c.store.Access(ctx, c.org.ID, c.user.ID)) })
	return c.acc, c.admin, c.err
}

func (c *call) setAccess(acc directory.Access, err error) {
	c.acc, c.err = acc, err
	c.admin = err == nil && acc.Authorize(directory.ActionManageOrg, "").Allowed
}

// wrap turns a route into a handler: it names the route for metrics,
// authenticates, checks the tenant, authorizes, runs the route and maps
// its error to a problem.
func (h *Handler) wrap(rt route) http.Handler {
	name := rt.method + " " + rt.pattern
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpserver.SetRoute(r, name)
		var c *call
		if rt.guard == operator {
			var err error
			if c, err = h.admitOperator(r); err != nil {
				h.fail(w, r, err)
				return
			}
		} else if rt.guard != public && !admitsItself[name] {
			var err error
			if c, err = h.admit(r, rt.guard); err != nil {
				h.fail(w, r, err)
				return
			}
		}
		if err := rt.serve(h, w, r, c); err != nil {
			h.fail(w, r, err)
		}
	})
}

// admit authenticates the caller, checks that the URL's organization is
// the caller's, and authorizes the route's guard.
func (h *Handler) admit(r *http.Request, g guard) (*call, error) {
	p, err := h.authenticate(r)
	if err != nil {
		return nil, err
	}
	return h.admitted(r, g, p)
}

// admitted is admit for a caller already authenticated.
func (h *Handler) admitted(r *http.Request, g guard, p Principal) (*call, error) {
	if r.PathValue("org") != p.Org.Slug {
		// The same answer as for an organization that does not exist.
		return nil, errNoOrg
	}
	if !h.limit.Allow(p.Org.ID) {
		return nil, directory.ErrRateLimited
	}
	if p.Ambient && !safeMethod(r.Method) {
		if h.csrf == nil {
			return nil, errForbiddenf("this write needs CSRF protection, which is not configured")
		}
		if err := h.csrf(r); err != nil {
			return nil, errForbiddenf("the request failed its CSRF check")
		}
	}
	c := &call{org: p.Org, user: p.User, actor: p.Actor, store: h.store}
	if p.Access != nil {
		c.once.Do(func() { c.setAccess(*p.Access, nil) })
		c.known = true
	}
	if g == orgAdmin {
		_, admin, err := c.callerAccess(r.Context())
		if err != nil {
			return nil, err
		}
		if !admin {
			return nil, errForbiddenf("%s is not an org admin of %s: only an org admin manages users, invitations, workspaces, bindings, mappings, tokens, service accounts, Git identities, webhook subscriptions, the audit log and the event feed",
				p.User.UserName, p.Org.Slug)
		}
	}
	// selfOrAdmin routes ask callerAccess when the request is about
	// someone else.
	return c, nil
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}
