package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/internal/resource"
)

// Git identities: the platform reports the commit authors it sees
// (observations), an org admin maps each identity to at most one user or
// service account, and the platform asks who an identity is (resolve) to
// show who triggered a run. All of it needs Org Admin: the platform calls
// with the token of its own service account, which holds that role.

// maxObservations bounds one ingest request, on top of MaxBody: a batch
// larger than this is 413, to be sent in parts.
const maxObservations = 5000

// defaultRecent is the window of "recent" identities (?recent=).
const defaultRecent = 90 * 24 * time.Hour

// lookupWorkers bounds the concurrent user lookups of one listing.
const lookupWorkers = 8

type observationJSON struct {
	Provider string `json:"provider"`
	Repo     string `json:"repo"`
	SHA      string `json:"sha"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	Login    string `json:"login"`
	Time     string `json:"time"` // RFC 3339; absent: when received
	Role     string `json:"role"` // author (default), committer or pusher
}

type observationsRequest struct {
	Observations []observationJSON `json:"observations"`
}

type ingestJSON struct {
	Observations int `json:"observations"` // received
	NewCommits   int `json:"newCommits"`   // not seen before
	Identities   int `json:"identities"`   // distinct identities touched
}

// ingestGitObservations records a batch of commit authors. It is
// idempotent by (repo, sha): a batch sent again counts no new commit. One
// bad observation refuses the batch (400 naming it) and nothing is stored.
func (h *Handler) ingestGitObservations(w http.ResponseWriter, r *http.Request, c *call) error {
	var req observationsRequest
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	switch n := len(req.Observations); {
	case n == 0:
		return directory.Invalidf("observations is required: from 1 to %d commit authors", maxObservations)
	case n > maxObservations:
		return &apiError{kind: kindTooLarge, msg: fmt.Sprintf("%d observations: at most %d are accepted per request; send them in batches", n, maxObservations)}
	}
	obs := make([]directory.GitObservation, 0, len(req.Observations))
	for i, o := range req.Observations {
		g := directory.GitObservation{Provider: o.Provider, Repo: o.Repo, SHA: o.SHA, Name: o.Name, Email: o.Email, Login: o.Login, Role: o.Role}
		if g.Role == "" {
			g.Role = directory.GitRoleAuthor
		}
		if o.Time != "" {
			t, err := time.Parse(time.RFC3339, o.Time)
			if err != nil {
				return directory.Invalidf("observation %d: time %q: want an RFC 3339 time such as 2024-05-01T12:00:00Z", i+1, o.Time)
			}
			g.At = t
		}
		obs = append(obs, g)
	}
	res, err := h.store.IngestGitObservations(r.Context(), c.org.ID, obs)
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, ingestJSON{Observations: res.Observations, NewCommits: res.NewCommits, Identities: res.Identities})
}

// gitIdentityItemJSON is an identity as the mapping screen lists it.
type gitIdentityItemJSON struct {
	resource.GitIdentity
	Suggestions []resource.MemberRef `json:"suggestions"`
}

// lookupKey names a user to find for a listing: by id (a mapped
// identity's owner) or by email (a suggestion).
type lookupKey struct {
	byID bool
	ref  string
}

type userLookup struct {
	lookupKey
	user  directory.User
	found bool
	err   error
}

// renderGitIdentities renders identities with their owners and the users
// suggested for them: the user whose emails hold the identity's address
// (or whose userName is it), found with FindMember. An address several
// users share suggests no one (the reconciler reports it as a conflict),
// nor does one that names no person (noreply, *.local…: see
// directory.PersonalEmail), a removed user, or the identity's own owner.
// The lookups of a page run a few at a time.
func (h *Handler) renderGitIdentities(ctx context.Context, orgID string, ids []directory.GitIdentity) ([]gitIdentityItemJSON, error) {
	lookups := map[lookupKey]*userLookup{}
	var order []*userLookup
	want := func(byID bool, ref string) {
		k := lookupKey{byID: byID, ref: ref}
		if _, ok := lookups[k]; !ok {
			l := &userLookup{lookupKey: k}
			lookups[k] = l
			order = append(order, l)
		}
	}
	for _, g := range ids {
		if g.UserID != "" {
			want(true, g.UserID)
		}
		if directory.PersonalEmail(g.Email) {
			want(false, g.Email)
		}
	}
	sem := make(chan struct{}, lookupWorkers)
	var wg sync.WaitGroup
	for _, l := range order {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if l.byID {
				l.user, l.err = h.store.Member(ctx, orgID, l.ref)
			} else {
				l.user, l.err = h.store.FindMember(ctx, orgID, l.ref)
			}
			switch {
			case l.err == nil:
				l.found = true
			case errors.Is(l.err, directory.ErrNotFound) || errors.Is(l.err, directory.ErrConflict):
				l.err = nil
			}
		})
	}
	wg.Wait()
	for _, l := range order {
		if l.err != nil {
			return nil, l.err
		}
	}

	out := make([]gitIdentityItemJSON, 0, len(ids))
	for _, g := range ids {
		var to *resource.MemberRef
		if g.UserID != "" {
			ref := resource.MemberRef{ID: g.UserID}
			if l := lookups[lookupKey{byID: true, ref: g.UserID}]; l.found {
				ref = resource.RenderMemberRef(l.user)
			}
			to = &ref
		}
		item := gitIdentityItemJSON{GitIdentity: resource.RenderGitIdentity(g, to), Suggestions: []resource.MemberRef{}}
		if l, ok := lookups[lookupKey{ref: g.Email}]; ok && l.found && l.user.ID != g.UserID && l.user.Status() != directory.StatusRemoved {
			item.Suggestions = append(item.Suggestions, resource.RenderMemberRef(l.user))
		}
		out = append(out, item)
	}
	return out, nil
}

// recentSince reads ?recent=: a window such as 90d or 12h (default 90
// days), or all.
func recentSince(s string, now time.Time) (time.Time, error) {
	switch s {
	case "":
		return now.Add(-defaultRecent), nil
	case "all":
		return time.Time{}, nil
	}
	d, err := directory.ParseTTL(s)
	if err != nil {
		return time.Time{}, directory.Invalidf("recent %q: want a window such as 90d or 12h, or all", s)
	}
	return now.Add(-d), nil
}

// listGitIdentities lists the identities seen recently (?recent=, 90 days
// by default), most recently seen first, unmapped ones first with
// ?unmappedFirst=true, those of one user with ?user= (id, userName or
// email).
func (h *Handler) listGitIdentities(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	since, err := recentSince(q.Get("recent"), time.Now())
	if err != nil {
		return err
	}
	unmappedFirst, err := queryBool(q, "unmappedFirst", false)
	if err != nil {
		return err
	}
	ctx := r.Context()
	gq := postgres.GitIdentityQuery{Since: since, UnmappedFirst: unmappedFirst, Offset: p.offset, Limit: p.limit}
	if ref := q.Get("user"); ref != "" {
		u, err := h.store.FindMember(ctx, c.org.ID, ref)
		if err != nil {
			return err
		}
		gq.UserID = u.ID
	}
	ids, total, err := h.store.GitIdentities(ctx, c.org.ID, gq)
	if err != nil {
		return err
	}
	items, err := h.renderGitIdentities(ctx, c.org.ID, ids)
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, list[gitIdentityItemJSON]{Items: items, Total: total, Offset: p.offset, Limit: p.limit})
}

type gitMappingRequest struct {
	User string `json:"user"` // id, userName or email
}

// mapGitIdentity maps an identity to a user or service account. The same
// user again is a no-op; another user's identity is 409 naming them (the
// store's conditional update decides, so concurrent claims cannot both
// win).
func (h *Handler) mapGitIdentity(w http.ResponseWriter, r *http.Request, c *call) error {
	var req gitMappingRequest
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if req.User == "" {
		return directory.Invalidf("user is required: an id, userName or email")
	}
	ctx := r.Context()
	u, err := h.store.FindMember(ctx, c.org.ID, req.User)
	if err != nil {
		return err
	}
	if u.Status() == directory.StatusRemoved {
		return directory.Conflictf("%s was removed from the organization and cannot be mapped a Git identity", u.UserName)
	}
	g, err := h.store.MapGitIdentity(ctx, c.actor, c.org.ID, r.PathValue("id"), u.ID)
	if err != nil {
		return err
	}
	out, err := h.renderGitIdentities(ctx, c.org.ID, []directory.GitIdentity{g})
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, out[0])
}

// unmapGitIdentity releases an identity (an unmapped one stays unmapped);
// past attribution is not rewritten.
func (h *Handler) unmapGitIdentity(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := h.store.UnmapGitIdentity(r.Context(), c.actor, c.org.ID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type resolveJSON struct {
	User     resource.MemberRef   `json:"user"`
	Identity resource.GitIdentity `json:"identity"`
}

// resolveGit answers who triggered a run: the user or service account an
// identity (?email=, ?login=, ?provider=, github by default) is mapped
// to, with its status — a deactivated user or a disabled service account
// still resolves, marked deactivated — or 404. A GitHub noreply address
// (ID+login@users.noreply.github.com) resolves by its login. It is on the
// platform's hot path: one store query.
//
// A space in the email is read as a "+" that the client did not encode
// (a query decodes "+" to a space, and an address has no spaces), so that
// 12345+octocat@users.noreply.github.com and alice+ci@example.com resolve
// either way.
func (h *Handler) resolveGit(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	email := strings.ReplaceAll(strings.TrimSpace(q.Get("email")), " ", "+")
	a, err := h.store.ResolveGit(r.Context(), c.org.ID, q.Get("provider"), email, q.Get("login"))
	if err != nil {
		return err
	}
	u := resource.RenderMemberRef(a.User)
	return h.writeJSON(w, r, http.StatusOK, resolveJSON{User: u, Identity: resource.RenderGitIdentity(a.Identity, &u)})
}
