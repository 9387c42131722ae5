package sync

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// plan is what a run means to do, computed from the survey alone (no I/O),
// so that a dry run reports exactly what a run would write.
type plan struct {
	maps     []postgres.AutoMapping
	mapsOf   []postgres.ReconcileIdentity // the identity of each of maps
	mappings []Mapping
	// unmapped identities not auto-mapped, by reason
	ambiguous, ambiguousLogin, nonPersonal, heldBack, loginOwnerInactive int

	open     []Conflict                // conflicts that hold, as the run leaves them
	save     []postgres.ConflictRecord // new ones, and open ones to refresh
	resolve  []string                  // ids of open conflicts that no longer hold
	resolved []Conflict

	releases  []string // identities mapped to removed users
	suspended int      // mappings of deactivated users (changed since the watermark)
}

const autoMapReason = "the only active user with this verified email"

// loginReason is the audited reason of a mapping by GitHub login.
func loginReason(login, user string) string {
	return fmt.Sprintf("same GitHub login (%s) as an identity mapped to %s", login, user)
}

// makePlan applies the rules to the identities a run read.
func makePlan(sv postgres.ReconcileSurvey) plan {
	var p plan
	type key struct{ kind, identity string }
	open := map[key]postgres.ReconcileConflict{}
	for _, c := range sv.Open {
		open[key{c.Kind, c.IdentityID}] = c
	}
	holds := map[key]bool{}
	found := func(g postgres.ReconcileIdentity, kind, detail string) {
		k := key{kind, g.ID}
		holds[k] = true
		cur, isOpen := open[k]
		p.open = append(p.open, Conflict{Kind: kind, IdentityID: g.ID, Identity: g.Label(), Detail: detail, New: !isOpen})
		if !isOpen || cur.Detail != detail || postgres.ConflictStale(cur, sv.Now) {
			p.save = append(p.save, postgres.ConflictRecord{Kind: kind, IdentityID: g.ID, Detail: detail})
		}
	}
	withOpen := make(map[string]bool, len(sv.Open))
	for _, c := range sv.Open {
		withOpen[c.IdentityID] = true
	}
	labels := make(map[string]string, len(sv.Open))
	for _, g := range sv.Identities {
		if withOpen[g.ID] {
			labels[g.ID] = g.Label()
		}
		if g.UserID == "" {
			p.unmapped(g, sv.Claims[g.Email], sv.LoginClaims[g.GitHubLogin], found)
		} else {
			p.mapped(g, sv.Claims[g.Email], sv.LoginClaims[g.GitHubLogin], found)
		}
	}
	p.splitLogins(found)
	for _, c := range sv.Open {
		if !holds[key{c.Kind, c.IdentityID}] {
			p.resolve = append(p.resolve, c.ID)
			p.resolved = append(p.resolved, Conflict{Kind: c.Kind, IdentityID: c.IdentityID, Identity: labels[c.IdentityID], Detail: c.Detail})
		}
	}
	byLabel := func(a, b Conflict) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Identity, b.Identity), cmp.Compare(a.IdentityID, b.IdentityID))
	}
	slices.SortFunc(p.open, byLabel)
	slices.SortFunc(p.resolved, byLabel)
	slices.SortFunc(p.mappings, func(a, b Mapping) int { return cmp.Compare(a.Identity, b.Identity) })
	return p
}

// unmapped plans an unmapped identity: auto-map it, report it, or leave it.
// Two things can name its user: its email, when the address is a person's
// and exactly one active user has verified it; and its GitHub login, when
// the mapped identities with that login all belong to one user (GitHub
// matched the commit to that account, and someone mapped the account's
// other identities to that user). When they disagree, or either names
// several users, it is a conflict.
func (p *plan) unmapped(g postgres.ReconcileIdentity, claims []postgres.EmailClaim, logins []postgres.LoginClaim, found func(postgres.ReconcileIdentity, string, string)) {
	if g.Stale {
		return // the expiry job prunes it
	}
	personal := g.Email != "" && directory.PersonalEmail(g.Email)
	conflicted := false
	var byEmail *postgres.EmailClaim
	if personal {
		active := activeClaims(claims, "")
		switch {
		case len(active) == 1:
			byEmail = &active[0]
		case len(active) > 1:
			p.ambiguous++
			conflicted = true
			found(g, postgres.ConflictAmbiguousEmail, fmt.Sprintf("%s is a verified email of %d active users (%s): map the identity by hand",
				g.Email, len(active), names(active)))
		}
	}
	var byLogin *postgres.LoginClaim
	// Removed users' mappings are being released: they hold no login.
	owners := slices.DeleteFunc(slices.Clone(logins), func(c postgres.LoginClaim) bool { return c.Removed })
	switch {
	case g.GitHubLogin == "" || len(owners) == 0:
	case len(owners) > 1:
		p.ambiguousLogin++
		conflicted = true
		found(g, postgres.ConflictAmbiguousLogin, fmt.Sprintf("GitHub login %s is on identities mapped to %d users (%s): map the identity by hand",
			g.GitHubLogin, len(owners), loginNames(owners)))
	case byEmail != nil && owners[0].UserID != byEmail.UserID:
		p.ambiguousLogin++
		conflicted = true
		found(g, postgres.ConflictAmbiguousLogin, fmt.Sprintf("GitHub login %s is on an identity mapped to %s, but %s is a verified email of %s: map the identity by hand",
			g.GitHubLogin, owners[0].UserName, g.Email, byEmail.UserName))
	case !owners[0].Active:
		// The account is a deactivated user's (byEmail, active, would
		// have disagreed above): it is not mapped to anyone else.
		p.loginOwnerInactive++
		return
	default:
		byLogin = &owners[0]
	}
	switch {
	case conflicted:
		return
	case byEmail == nil && byLogin == nil:
		if g.Email != "" && !personal {
			p.nonPersonal++
		}
		return
	case !g.NeverMapped:
		p.heldBack++ // someone unmapped it: a person maps it again
		return
	}
	m := postgres.AutoMapping{IdentityID: g.ID, Login: g.GitHubLogin, PersonalEmail: personal}
	name := ""
	if byEmail != nil {
		m.UserID, m.Reason, name = byEmail.UserID, autoMapReason, byEmail.UserName
	} else {
		m.UserID, m.ByLogin, name = byLogin.UserID, true, byLogin.UserName
		m.Reason = loginReason(g.GitHubLogin, name)
	}
	p.maps = append(p.maps, m)
	p.mapsOf = append(p.mapsOf, g)
	p.mappings = append(p.mappings, Mapping{IdentityID: g.ID, Identity: g.Label(), UserID: m.UserID, User: name, Reason: m.Reason})
}

// splitLogins withdraws the planned mappings that would give one GitHub
// login to two users: identities with no mapped sibling, whose emails
// are different users' verified emails. Each is reported instead.
func (p *plan) splitLogins(found func(postgres.ReconcileIdentity, string, string)) {
	users := map[string]map[string]string{} // login → user id → name
	for i, m := range p.maps {
		if m.Login == "" {
			continue
		}
		if users[m.Login] == nil {
			users[m.Login] = map[string]string{}
		}
		users[m.Login][m.UserID] = p.mappings[i].User
	}
	split := map[string]string{} // login → the users' names
	for login, us := range users {
		if len(us) > 1 {
			split[login] = joinNames(slices.Collect(maps.Values(us)))
		}
	}
	if len(split) == 0 {
		return
	}
	keep := 0
	for i, m := range p.maps {
		if who, ok := split[m.Login]; ok {
			p.ambiguousLogin++
			found(p.mapsOf[i], postgres.ConflictAmbiguousLogin, fmt.Sprintf("GitHub login %s is on identities whose emails are verified emails of %d users (%s): map the identities by hand",
				m.Login, len(users[m.Login]), who))
			continue
		}
		p.maps[keep], p.mapsOf[keep], p.mappings[keep] = m, p.mapsOf[i], p.mappings[i]
		keep++
	}
	p.maps, p.mapsOf, p.mappings = p.maps[:keep], p.mapsOf[:keep], p.mappings[:keep]
}

// mapped checks a mapped identity against its owner's lifecycle, the
// other mappings of its GitHub login and the emails users have now.
func (p *plan) mapped(g postgres.ReconcileIdentity, claims []postgres.EmailClaim, logins []postgres.LoginClaim, found func(postgres.ReconcileIdentity, string, string)) {
	if g.OwnerRemoved {
		found(g, postgres.ConflictMappedToRemoved, fmt.Sprintf("mapped to %s, who was removed from the organization: the mapping is released", g.OwnerName))
		p.releases = append(p.releases, g.ID)
		return
	}
	if g.OwnerChanged && !g.OwnerActive {
		p.suspended++
	}
	p.mappedLogin(g, logins, found)
	if g.Email == "" || !directory.PersonalEmail(g.Email) {
		return
	}
	for _, c := range claims {
		if c.UserID == g.UserID {
			return // the owner still has the address
		}
	}
	if others := activeClaims(claims, g.UserID); len(others) > 0 {
		found(g, postgres.ConflictContradictsEmail, fmt.Sprintf("mapped to %s, but %s is now an email of %s and no longer of %s: remap or unmap the identity",
			g.OwnerName, g.Email, names(others), g.OwnerName))
	}
}

// mappedLogin reports a mapping its GitHub login contradicts: the other
// identities mapped with the login are all other users'. One GitHub
// account is one person, so one of the mappings is wrong, and which one is
// a person's call: nothing is remapped. A deactivated user still owns its
// login (its mappings are kept for its return); a removed user's are
// being released and count for nothing. When the identity's own user
// holds another identity with the login too, no mapping is the odd one
// out; the login's unmapped identities, if any, report such a split.
func (p *plan) mappedLogin(g postgres.ReconcileIdentity, logins []postgres.LoginClaim, found func(postgres.ReconcileIdentity, string, string)) {
	if g.GitHubLogin == "" {
		return
	}
	var others []postgres.LoginClaim
	for _, c := range logins {
		switch {
		case c.Removed:
		case c.UserID == g.UserID:
			if c.Identities > 1 {
				return
			}
		default:
			others = append(others, c)
		}
	}
	if len(others) > 0 {
		found(g, postgres.ConflictAmbiguousLogin, fmt.Sprintf("mapped to %s, but GitHub login %s is mapped to %s on other identities: remap or unmap one of them",
			g.OwnerName, g.GitHubLogin, loginNames(others)))
	}
}

// activeClaims returns the active, non-removed claimants other than except.
func activeClaims(claims []postgres.EmailClaim, except string) []postgres.EmailClaim {
	var out []postgres.EmailClaim
	for _, c := range claims {
		if c.Active && !c.Removed && c.UserID != except {
			out = append(out, c)
		}
	}
	return out
}

// names lists users' names in a stable order: a conflict's detail must not
// change (and be rewritten) when nothing did.
func names(claims []postgres.EmailClaim) string {
	n := make([]string, len(claims))
	for i, c := range claims {
		n[i] = c.UserName
	}
	return joinNames(n)
}

func loginNames(claims []postgres.LoginClaim) string {
	n := make([]string, len(claims))
	for i, c := range claims {
		n[i] = c.UserName
	}
	return joinNames(n)
}

func joinNames(n []string) string {
	slices.Sort(n)
	return strings.Join(n, ", ")
}

func autoMap(ctx context.Context, _ *Reconciler, o *orgRun, js *JobSummary) error {
	p := &o.plan
	js.Planned = len(p.maps)
	byLogin := 0
	for _, m := range p.maps {
		if m.ByLogin {
			byLogin++
		}
	}
	js.Counts = map[string]int{"ambiguous": p.ambiguous, "ambiguous-login": p.ambiguousLogin, "non-personal": p.nonPersonal,
		"unmapped-by-hand": p.heldBack, "login-owner-inactive": p.loginOwnerInactive, "by-login": byLogin}
	if o.dry {
		return nil
	}
	n, err := o.sess.AutoMap(ctx, Actor, o.org.ID, p.maps)
	js.Changed = n
	return err
}

func conflicts(ctx context.Context, _ *Reconciler, o *orgRun, js *JobSummary) error {
	p := &o.plan
	js.Planned = len(p.save) + len(p.resolve)
	js.Conflicts = len(p.open)
	newOnes := 0
	for _, c := range p.open {
		if c.New {
			newOnes++
		}
	}
	js.Counts = map[string]int{"new": newOnes, "resolved": len(p.resolve)}
	if o.dry {
		return nil
	}
	n, err := o.sess.SaveConflicts(ctx, o.org.ID, p.save, p.resolve)
	js.Changed = n
	return err
}

func lifecycle(ctx context.Context, _ *Reconciler, o *orgRun, js *JobSummary) error {
	p := &o.plan
	js.Planned = len(p.releases)
	js.Counts = map[string]int{"released": len(p.releases), "suspended": p.suspended}
	if o.dry {
		return nil
	}
	n, err := o.sess.ReleaseRemoved(ctx, Actor, o.org.ID, p.releases)
	js.Changed, js.Counts["released"] = n, n
	return err
}

// serviceAccounts is the slot of declared service accounts (see
// declared.go): the file is read and checked whole each run, then the
// organization's declared accounts are made to match it.
func serviceAccounts(ctx context.Context, r *Reconciler, o *orgRun, js *JobSummary) error {
	if r.cfg.ServiceAccountsFile == "" {
		js.Skipped = "no service accounts file"
		return nil
	}
	return reconcileDeclared(ctx, r, o, js)
}

func expiry(ctx context.Context, _ *Reconciler, o *orgRun, js *JobSummary) error {
	sv := &o.survey
	js.Planned = sv.Prunable + sv.HistoryPrunable + sv.SessionsPrunable + sv.DeliveriesPrunable
	js.Counts = map[string]int{"expired-invitations": sv.ExpiredInvitations, "expired-scim-tokens": sv.ExpiredSCIMTokens,
		"expired-api-tokens": sv.ExpiredAPITokens, "pruned-identities": sv.Prunable, "pruned-history": sv.HistoryPrunable,
		"pruned-sessions": sv.SessionsPrunable, "pruned-deliveries": sv.DeliveriesPrunable}
	if o.dry {
		return nil
	}
	// Writes only when the survey found something: a run with nothing to
	// do opens no transaction here.
	for _, p := range []struct {
		planned int
		count   string
		prune   func() (int, error)
	}{
		{sv.Prunable, "pruned-identities", func() (int, error) { return o.sess.PruneIdentities(ctx, Actor, o.org.ID, o.pruneBefore) }},
		{sv.HistoryPrunable, "pruned-history", func() (int, error) { return o.sess.PruneHistory(ctx, o.org.ID, o.historyFrom) }},
		{sv.SessionsPrunable, "pruned-sessions", func() (int, error) { return o.sess.PruneSessions(ctx, o.org.ID, o.sessionsBefore) }},
		{sv.DeliveriesPrunable, "pruned-deliveries", func() (int, error) {
			return o.sess.PruneWebhookDeliveries(ctx, o.org.ID, o.deliveriesBefore)
		}},
	} {
		if p.planned == 0 {
			continue
		}
		n, err := p.prune()
		js.Changed += n
		js.Counts[p.count] = n
		if err != nil {
			return err
		}
	}
	return nil
}
