package oidc

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/httpserver"
)

// acceptInvitation is where an invitation mail's join link lands
// (mail.JoinLink): it checks the link without spending it and starts a
// login at the organization's IdP; the callback then accepts the
// invitation with the login's verified email. Opening the link (a mail
// scanner following it, say) changes nothing.
func (h *Handler) acceptInvitation(w http.ResponseWriter, r *http.Request) {
	httpserver.SetRoute(r, "GET /invite/accept")
	token := r.URL.Query().Get("token")
	inv, o, err := h.cfg.Store.InvitationByToken(r.Context(), token)
	if errors.Is(err, directory.ErrUnauthorized) {
		h.page(w, http.StatusNotFound, "Cannot join", "This join link is not valid: it may have been replaced by a newer mail, or it was mistyped.")
		return
	}
	if err != nil {
		h.fail(w, r, "look up invitation", err)
		return
	}
	if st := inv.State(time.Now()); st != "pending" {
		h.page(w, http.StatusGone, "Cannot join", "This invitation was "+st+". Ask an administrator of the organization for a new one.")
		return
	}
	s, err := h.cfg.Store.IdPSettings(r.Context(), o.ID)
	if errors.Is(err, directory.ErrNotFound) {
		h.page(w, http.StatusConflict, "Cannot join yet", orgLabel(o)+" has no identity provider set up for sign-in yet; ask an administrator.")
		return
	}
	if err != nil {
		h.fail(w, r, "load IdP settings", err)
		return
	}
	var opts []oauth2.AuthCodeOption
	if r.URL.Query().Get("another") == "1" {
		// "Use another account" after a login with the wrong one: ask the
		// IdP to authenticate afresh rather than reuse its session
		// (OpenID Connect Core's prompt=login, which Okta, Entra ID and
		// Google honour), so the person can pick the invited account.
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"))
	}
	h.begin(w, r, o, s, loginState{ReturnTo: "/orgs/" + o.Slug + "/", Invitation: token}, opts...)
}

// invitationError explains why an invitation could not be accepted. A
// login with another address than the invited one (ErrForbidden) offers
// to sign in again with another account: the link is still good.
func (h *Handler) invitationError(w http.ResponseWriter, r *http.Request, err error, token string) {
	var de *directory.Error
	switch {
	case errors.Is(err, directory.ErrUnauthorized):
		h.page(w, http.StatusNotFound, "Cannot join", "This join link is not valid any more.")
	case errors.As(err, &de) && errors.Is(err, directory.ErrForbidden):
		h.page(w, http.StatusForbidden, "Cannot join", de.Msg+".",
			pageLink{Href: "/invite/accept?another=1&token=" + url.QueryEscape(token), Text: "Use another account"}, startLink)
	case errors.As(err, &de):
		h.page(w, http.StatusConflict, "Cannot join", de.Msg+".")
	default:
		h.fail(w, r, "accept invitation", err)
	}
}
