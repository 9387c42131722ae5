package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// The reconciler's SQL (package sync). A run holds a session advisory lock
// on one connection and does all its work on that same connection, so the
// lock cannot be lost while the work goes on: if the connection breaks, the
// lock and the work end together. Each step is its own transaction, and
// every write is guarded by the condition it was planned on, so a run that
// is killed midway leaves whole steps behind and the next run converges.

// reconcileLockKey is the advisory lock key of reconciler runs: "scimsync"
// in ASCII. goose holds its own key while migrating.
const reconcileLockKey int64 = 0x7363696d73796e63

// ErrReconcileLocked reports that another session holds the reconciler's
// lock: another replica (or a CLI run) is reconciling.
var ErrReconcileLocked = errors.New("another reconciliation run holds the lock")

// Conflict kinds the reconciler reports.
const (
	// ConflictAmbiguousEmail: an unmapped identity's email is a verified
	// email of two or more active users.
	ConflictAmbiguousEmail = "ambiguous-email"
	// ConflictMappedToRemoved: an identity is mapped to a removed user.
	ConflictMappedToRemoved = "mapped-to-removed"
	// ConflictContradictsEmail: an identity is mapped to one user, but its
	// email is now another active user's and no longer the first one's.
	ConflictContradictsEmail = "contradicts-email"
	// ConflictAmbiguousLogin: an unmapped GitHub identity's login is on
	// identities mapped to two or more users, or on an identity mapped to
	// another user than the one its email names; or a mapped one's login
	// is, on the other identities mapped with it, only other users'.
	ConflictAmbiguousLogin = "ambiguous-login"
)

// Run outcomes.
const (
	RunOK        = "ok"
	RunError     = "error"
	RunCancelled = "cancelled"
)

// ReconcileSession is one reconciler run's connection, holding the lock.
// It is not safe for concurrent use.
type ReconcileSession struct {
	db   *DB
	conn *pgxpool.Conn
}

// LockReconcile acquires a connection and takes the reconciler's advisory
// lock on it without waiting. ErrReconcileLocked: another run holds it.
// The caller must Close the session.
func (db *DB) LockReconcile(ctx context.Context) (*ReconcileSession, error) {
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, reconcileLockKey).Scan(&ok); err != nil {
		conn.Release()
		return nil, err
	}
	if !ok {
		conn.Release()
		return nil, ErrReconcileLocked
	}
	// A run's statements sweep whole organizations: the pool's
	// statement_timeout is sized for requests. Close resets it.
	if _, err := conn.Exec(ctx, `SET statement_timeout = '15min'`); err != nil {
		s := &ReconcileSession{db: db, conn: conn}
		s.Close()
		return nil, err
	}
	return &ReconcileSession{db: db, conn: conn}, nil
}

// Close releases the lock and the connection. When the lock cannot be
// released (the run's context was cancelled mid-query, the network broke),
// the connection is closed instead, which releases the lock with the
// session: a pooled connection must never keep it.
func (s *ReconcileSession) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, rerr := s.conn.Exec(ctx, `RESET statement_timeout`)
	if _, err := s.conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, reconcileLockKey); err != nil || rerr != nil {
		_ = s.conn.Hijack().Close(ctx)
		return
	}
	s.conn.Release()
}

// Watermark is where an organization's runs stand.
type Watermark struct {
	// LastOK and LastFull are when the last successful run and the last
	// successful full run started (nil: none).
	LastOK, LastFull *time.Time
	// Now is the database's clock.
	Now time.Time
}

// Watermark returns where the organization's runs stand.
func (s *ReconcileSession) Watermark(ctx context.Context, orgID string) (Watermark, error) {
	var w Watermark
	err := s.conn.QueryRow(ctx, `SELECT now(),
			(SELECT started_at FROM reconcile_runs WHERE org_id = $1 AND outcome = 'ok' ORDER BY started_at DESC LIMIT 1),
			(SELECT started_at FROM reconcile_runs WHERE org_id = $1 AND outcome = 'ok' AND since IS NULL ORDER BY started_at DESC LIMIT 1)`,
		orgID).Scan(&w.Now, &w.LastOK, &w.LastFull)
	return w, err
}

// SurveyQuery says what a run reads.
type SurveyQuery struct {
	OrgID string
	// Since is the watermark: identities and users changed at or after it
	// are read (nil: everything, a full run).
	Since *time.Time
	// Now is the policy clock: tokens and invitations expire by it.
	Now time.Time
	// PruneBefore: unmapped identities nobody saw since are prunable.
	PruneBefore time.Time
	// HistoryBefore: runs and resolved conflicts older than it are pruned.
	HistoryBefore time.Time
	// SessionsBefore: login sessions that ended (expired or were revoked)
	// before it are pruned.
	SessionsBefore time.Time
	// DeliveriesBefore: webhook delivery records received before it are
	// pruned.
	DeliveriesBefore time.Time
}

// ReconcileIdentity is a Git identity as the reconciler sees it, with the
// state of the user it is mapped to.
type ReconcileIdentity struct {
	ID, Provider, Email, Login string
	// GitHubLogin is the GitHub login, lower-cased: Login, or the one a
	// GitHub noreply address carries; "" for other providers and for
	// identities with neither (git_identities.github_login).
	GitHubLogin string
	UserID      string // "" when unmapped
	// NeverMapped: nobody ever mapped or unmapped it. An identity that was
	// unmapped (by an admin, or released on removal) has mapped_at set.
	NeverMapped bool
	// Stale: unmapped and nobody saw it before PruneBefore.
	Stale        bool
	OwnerName    string
	OwnerActive  bool
	OwnerRemoved bool
	// OwnerChanged: the owner changed at or after Since (always, in a full run).
	OwnerChanged bool
}

// Label names the identity for people: provider and email (or login).
func (g ReconcileIdentity) Label() string {
	who := g.Email
	if who == "" {
		who = g.Login
	} else if g.Login != "" {
		who += " (" + g.Login + ")"
	}
	return g.Provider + " " + who
}

// EmailClaim is a user that has an email among its verified emails.
type EmailClaim struct {
	Email, UserID, UserName string
	Active, Removed         bool
}

// LoginClaim is a user that holds mapped GitHub identities with a login.
type LoginClaim struct {
	Login, UserID, UserName string
	Active, Removed         bool
	// Identities counts the user's mapped identities with the login: a
	// mapped identity's own user must hold another one for the login to
	// back the mapping.
	Identities int
}

// ReconcileConflict is a conflict the reconciler reported.
type ReconcileConflict struct {
	ID, OrgID, Kind, IdentityID, Detail string
	FirstSeen, LastSeen                 time.Time
	ResolvedAt                          *time.Time
	// Identity names the identity (provider, email, login) on listings.
	Identity string
}

// ReconcileSurvey is what a run reads, in one snapshot.
type ReconcileSurvey struct {
	// Now is the database's clock at the snapshot: the next run's watermark.
	Now        time.Time
	Identities []ReconcileIdentity
	// Claims holds, by email, the users claiming each personal address of
	// Identities (directory.PersonalEmail; others are never matched).
	Claims map[string][]EmailClaim
	// LoginClaims holds, by GitHub login, the users (one entry each) that
	// the mapped identities with the login of an identity of Identities
	// belong to (for unmapped identities that are not stale, and mapped
	// ones whose user is not removed).
	LoginClaims map[string][]LoginClaim
	// Open lists the open conflicts; their identities are in Identities.
	Open []ReconcileConflict
	// Expired counts invitations and tokens that expired since the
	// watermark (all that did, in a full run) and are not revoked: their
	// state is computed at use, so nothing is written for them.
	ExpiredInvitations, ExpiredSCIMTokens, ExpiredAPITokens int
	// Prunable counts unmapped identities nobody saw before PruneBefore.
	Prunable int
	// HistoryPrunable counts runs and resolved conflicts before HistoryBefore.
	HistoryPrunable int
	// SessionsPrunable counts login sessions that ended before SessionsBefore.
	SessionsPrunable int
	// DeliveriesPrunable counts webhook delivery records received before
	// DeliveriesBefore.
	DeliveriesPrunable int
}

// The identities a run reads. A full run reads them all; an incremental
// run reads those written since the watermark, those mapped to a user who
// changed since, those whose email is a changed user's, and those with an
// open conflict (which must be re-checked to be resolved); then the
// identities with the GitHub login of any of those, because a login's
// owner decides them: an identity mapped by hand lets its unmapped
// siblings map (a deactivated owner holds them), and contradicts its
// mapped siblings when it is mapped to another user, whichever of the two
// sides changed. Each branch of the union is an index range, so the cost
// follows the changes.
const surveyIdentityColumns = `i.id, i.provider, i.email, i.login, coalesce(i.github_login, ''),
	coalesce(i.user_id::text, ''), i.mapped_at IS NULL,
	i.user_id IS NULL AND greatest(i.last_seen, i.touched_at) < $3,
	coalesce(u.user_name, ''), coalesce(u.active, false), u.removed_at IS NOT NULL`

const surveyFullSQL = `SELECT ` + surveyIdentityColumns + `, true
	FROM git_identities i LEFT JOIN users u ON u.org_id = i.org_id AND u.id = i.user_id
	WHERE i.org_id = $1 AND $2::timestamptz IS NULL`

const surveyIncrementalSQL = `WITH cu AS (
		SELECT u.id, u.emails FROM users u WHERE u.org_id = $1 AND u.updated_at >= $2
	), ids AS (
		SELECT i.id FROM git_identities i WHERE i.org_id = $1 AND i.touched_at >= $2
		UNION
		SELECT i.id FROM cu JOIN git_identities i ON i.org_id = $1 AND i.user_id = cu.id
		UNION
		SELECT i.id FROM cu CROSS JOIN LATERAL unnest(cu.emails) AS e(email)
			JOIN git_identities i ON i.org_id = $1 AND i.email = e.email AND i.email <> ''
		UNION
		SELECT c.identity_id FROM reconcile_conflicts c WHERE c.org_id = $1 AND c.resolved_at IS NULL
	), siblings AS (
		SELECT s.id FROM ids JOIN git_identities c ON c.org_id = $1 AND c.id = ids.id
			JOIN git_identities s ON s.org_id = $1 AND s.github_login = c.github_login
		WHERE c.github_login IS NOT NULL
	), all_ids AS (
		SELECT id FROM ids UNION SELECT id FROM siblings
	)
	SELECT ` + surveyIdentityColumns + `, coalesce(u.updated_at >= $2, false)
	FROM all_ids ids JOIN git_identities i ON i.org_id = $1 AND i.id = ids.id
	LEFT JOIN users u ON u.org_id = i.org_id AND u.id = i.user_id`

// Verified emails are users.emails of the users verifiedEmails admits:
// SCIM emails (the IdP verified them), the address an invitation was
// accepted with (the login verified it), and the address of a JIT user
// whose IdP said it was verified (verified_login, migration 00012). A JIT
// user named by an unverified address has none: whoever could set that
// address at the IdP would otherwise be handed the commits of its owner.
// (GitHub logins are matched against mapped identities instead: see
// surveyLogins.)
//
// A few addresses are looked up in the GIN index one by one; many (a full
// run, a busy interval) are matched by one pass over the organization's
// users and a hash join. Each probe of a GIN index also reads its pending
// list (fastupdate), which after a burst of SCIM updates holds hundreds of
// pages until vacuum merges it: a thousand probes can then cost a second,
// where one pass over 50,000 users costs tens of milliseconds.
const (
	claimsFewSQL = `SELECT w.email, u.id, u.user_name, u.active, u.removed_at IS NOT NULL
		FROM unnest($2::text[]) AS w(email) JOIN users u ON u.org_id = $1 AND u.emails @> ARRAY[w.email] AND ` + verifiedEmailsU
	claimsManySQL = `SELECT w.email, u.id, u.user_name, u.active, u.removed_at IS NOT NULL
		FROM users u CROSS JOIN LATERAL unnest(u.emails) AS e(email) JOIN unnest($2::text[]) AS w(email) ON w.email = e.email
		WHERE u.org_id = $1 AND ` + verifiedEmailsU
	// ginProbeMax is the most addresses looked up one by one.
	ginProbeMax = 100
)

// verifiedEmailsU (of users u) and verifiedEmailsO (of users o) are true
// for a user whose emails are verified (see claimsFewSQL).
const (
	verifiedEmailsU = "(u.source <> 'jit' OR u.verified_login)"
	verifiedEmailsO = "(o.source <> 'jit' OR o.verified_login)"
)

// Survey reads what a run needs, in one repeatable-read snapshot, so that
// the plan is computed from one consistent state.
func (s *ReconcileSession) Survey(ctx context.Context, q SurveyQuery) (ReconcileSurvey, error) {
	var sv ReconcileSurvey
	err := pgx.BeginTxFunc(ctx, s.conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT now()`).Scan(&sv.Now); err != nil {
			return err
		}
		query := surveyFullSQL
		if q.Since != nil {
			query = surveyIncrementalSQL
		}
		rows, err := tx.Query(ctx, query, q.OrgID, q.Since, q.PruneBefore)
		if err != nil {
			return err
		}
		sv.Identities, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (ReconcileIdentity, error) {
			var g ReconcileIdentity
			err := r.Scan(&g.ID, &g.Provider, &g.Email, &g.Login, &g.GitHubLogin, &g.UserID, &g.NeverMapped, &g.Stale,
				&g.OwnerName, &g.OwnerActive, &g.OwnerRemoved, &g.OwnerChanged)
			return g, err
		})
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		var emails []string
		for _, g := range sv.Identities {
			if g.Email != "" && !seen[g.Email] && directory.PersonalEmail(g.Email) {
				seen[g.Email] = true
				emails = append(emails, g.Email)
			}
		}
		sv.Claims = map[string][]EmailClaim{}
		if len(emails) > 0 {
			query := claimsFewSQL
			if len(emails) > ginProbeMax {
				query = claimsManySQL
			}
			rows, err := tx.Query(ctx, query, q.OrgID, emails)
			if err != nil {
				return err
			}
			var c EmailClaim
			if _, err := pgx.ForEachRow(rows, []any{&c.Email, &c.UserID, &c.UserName, &c.Active, &c.Removed}, func() error {
				sv.Claims[c.Email] = append(sv.Claims[c.Email], c)
				return nil
			}); err != nil {
				return err
			}
		}
		if err := surveyLogins(ctx, tx, q.OrgID, &sv); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT c.id, c.org_id, c.kind, c.identity_id, c.detail, c.first_seen, c.last_seen, c.resolved_at, ''
			FROM reconcile_conflicts c WHERE c.org_id = $1 AND c.resolved_at IS NULL ORDER BY c.first_seen, c.id`, q.OrgID)
		if err != nil {
			return err
		}
		if sv.Open, err = pgx.CollectRows(rows, scanConflict); err != nil {
			return err
		}
		// Expiry is computed at use (Status, State): these are counts only.
		return tx.QueryRow(ctx, `SELECT
				(SELECT count(*) FROM invitations WHERE org_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL
					AND expires_at <= $2 AND ($3::timestamptz IS NULL OR expires_at > $3)),
				(SELECT count(*) FROM scim_tokens WHERE org_id = $1 AND revoked_at IS NULL
					AND expires_at <= $2 AND ($3::timestamptz IS NULL OR expires_at > $3)),
				(SELECT count(*) FROM api_tokens WHERE org_id = $1 AND revoked_at IS NULL
					AND expires_at <= $2 AND ($3::timestamptz IS NULL OR expires_at > $3)),
				(SELECT count(*) FROM git_identities WHERE org_id = $1 AND user_id IS NULL AND greatest(last_seen, touched_at) < $4),
				(SELECT count(*) FROM reconcile_runs WHERE org_id = $1 AND started_at < $5)
				+ (SELECT count(*) FROM reconcile_conflicts WHERE org_id = $1 AND resolved_at < $5),
				(SELECT count(*) FROM sessions WHERE org_id = $1 AND `+sessionEnded+` < $6),
				(SELECT count(*) FROM webhook_deliveries WHERE org_id = $1 AND received_at < $7)`,
			q.OrgID, q.Now, q.Since, q.PruneBefore, q.HistoryBefore, q.SessionsBefore, q.DeliveriesBefore).
			Scan(&sv.ExpiredInvitations, &sv.ExpiredSCIMTokens, &sv.ExpiredAPITokens, &sv.Prunable, &sv.HistoryPrunable,
				&sv.SessionsPrunable, &sv.DeliveriesPrunable)
	})
	return sv, err
}

// surveyLogins reads the owners of the GitHub logins of the identities a
// run read: the distinct users their mapped identities belong to. Stale
// identities are pruned and removed users' released, so no plan needs
// their logins.
func surveyLogins(ctx context.Context, tx pgx.Tx, orgID string, sv *ReconcileSurvey) error {
	seen := map[string]bool{}
	var logins []string
	for _, g := range sv.Identities {
		needed := !g.Stale
		if g.UserID != "" {
			needed = !g.OwnerRemoved
		}
		if needed && g.GitHubLogin != "" && !seen[g.GitHubLogin] {
			seen[g.GitHubLogin] = true
			logins = append(logins, g.GitHubLogin)
		}
	}
	sv.LoginClaims = map[string][]LoginClaim{}
	if len(logins) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT i.github_login, u.id, u.user_name, u.active, u.removed_at IS NOT NULL, count(*)
		FROM git_identities i JOIN users u ON u.org_id = i.org_id AND u.id = i.user_id
		WHERE i.org_id = $1 AND i.github_login = ANY($2::text[]) AND i.user_id IS NOT NULL
		GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 3, 2`, orgID, logins)
	if err != nil {
		return err
	}
	var c LoginClaim
	_, err = pgx.ForEachRow(rows, []any{&c.Login, &c.UserID, &c.UserName, &c.Active, &c.Removed, &c.Identities}, func() error {
		sv.LoginClaims[c.Login] = append(sv.LoginClaims[c.Login], c)
		return nil
	})
	return err
}

func scanConflict(r pgx.CollectableRow) (ReconcileConflict, error) {
	var c ReconcileConflict
	err := r.Scan(&c.ID, &c.OrgID, &c.Kind, &c.IdentityID, &c.Detail, &c.FirstSeen, &c.LastSeen, &c.ResolvedAt, &c.Identity)
	return c, err
}

// AutoMapping maps one identity to one user.
type AutoMapping struct {
	IdentityID, UserID, Reason string
	// ByLogin: planned on the identity's GitHub login (the user holds the
	// mapped identities with it), not on its email.
	ByLogin bool
	// Login is the identity's GitHub login ("" for none): whatever the
	// mapping was planned on, no mapped identity with this login may
	// belong to another user.
	Login string
	// PersonalEmail: the identity's email is a person's
	// (directory.PersonalEmail). A mapping by login then also needs that
	// no other active user has the address.
	PersonalEmail bool
}

// AutoMap maps identities in one transaction, each only if it still holds
// what it was planned on: the identity was never mapped, the user is
// active and not removed, and
//   - by email: the user is the only such user with the identity's email
//     among its verified emails;
//   - by login: the user holds a mapped identity with the identity's
//     GitHub login, and, when the email is a person's, no other active
//     user has it among its verified emails;
//   - either way, no mapped identity with the identity's GitHub login
//     belongs to another (non-removed) user.
//
// It is MapGitIdentity's conditional update (user_id IS NULL) with the
// plan's conditions added, and writes an audit event per mapping. It
// returns how many it mapped.
func (s *ReconcileSession) AutoMap(ctx context.Context, actor directory.Actor, orgID string, maps []AutoMapping) (int, error) {
	if len(maps) == 0 {
		return 0, nil
	}
	ids, users, reasons := make([]string, len(maps)), make([]string, len(maps)), make([]string, len(maps))
	byLogin, logins, personal := make([]bool, len(maps)), make([]string, len(maps)), make([]bool, len(maps))
	for i, m := range maps {
		ids[i], users[i], reasons[i] = m.IdentityID, m.UserID, m.Reason
		byLogin[i], logins[i], personal[i] = m.ByLogin, m.Login, m.PersonalEmail
	}
	// rivals counts, per address of the plan, the active users that have
	// it; a mapping holds when its user is the only one.
	rivals := `rivals AS MATERIALIZED (
			SELECT w.email, count(*) AS n FROM (SELECT DISTINCT email FROM targets) w
			JOIN users o ON o.org_id = $1 AND o.emails @> ARRAY[w.email] AND o.active AND o.removed_at IS NULL
				AND ` + verifiedEmailsO + `
			GROUP BY w.email)`
	if len(maps) > ginProbeMax {
		rivals = `rivals AS MATERIALIZED (
			SELECT e.email, count(*) AS n FROM users o CROSS JOIN LATERAL unnest(o.emails) AS e(email)
			WHERE o.org_id = $1 AND o.active AND o.removed_at IS NULL AND ` + verifiedEmailsO + `
				AND e.email IN (SELECT email FROM targets)
			GROUP BY e.email)`
	}
	var n int
	err := pgx.BeginFunc(ctx, s.conn, func(tx pgx.Tx) error {
		// The users mapped to are share-locked first, as MapGitIdentity
		// does: a removal committing while the statement below runs would
		// otherwise go unseen (the UPDATE touches identities, not users),
		// leaving an identity mapped to a removed user. The statement's
		// snapshot, taken after the lock, sees any removal before it.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE org_id = $1 AND id = ANY($2::uuid[]) ORDER BY id FOR SHARE`, orgID, users); err != nil {
			return err
		}
		// owners lists, per login of the plan, the non-removed users its
		// mapped identities belong to (a removed user's are being released).
		// holds keeps the planned mappings that still hold. rivals and
		// owners are read through IN, which PostgreSQL hashes: their row
		// counts are misestimated (a handful), and a join would then scan
		// them once per mapping.
		rows, err := tx.Query(ctx, `WITH plan AS (
				SELECT * FROM unnest($2::uuid[], $3::uuid[], $5::text[], $6::bool[], $7::text[], $8::bool[])
					AS p(identity_id, user_id, reason, by_login, login, personal)
			), targets AS (
				SELECT i.email FROM plan p JOIN git_identities i ON i.org_id = $1 AND i.id = p.identity_id
				WHERE i.email <> '' AND (NOT p.by_login OR p.personal)
			), `+rivals+`, owners AS MATERIALIZED (
				SELECT s.github_login AS login, array_agg(DISTINCT s.user_id ORDER BY s.user_id) AS users FROM git_identities s
				JOIN users o ON o.org_id = s.org_id AND o.id = s.user_id AND o.removed_at IS NULL
				WHERE s.org_id = $1 AND s.github_login IN (SELECT login FROM plan WHERE login <> '') AND s.user_id IS NOT NULL
				GROUP BY s.github_login
			), holds AS (
				SELECT p.identity_id, p.user_id, p.reason FROM plan p
				JOIN git_identities g ON g.org_id = $1 AND g.id = p.identity_id
				JOIN users u ON u.org_id = $1 AND u.id = p.user_id
				WHERE u.active AND u.removed_at IS NULL
				  AND (p.by_login OR g.email <> '' AND u.emails @> ARRAY[g.email] AND `+verifiedEmailsU+`
				       AND g.email IN (SELECT email FROM rivals WHERE n = 1))
				  AND (NOT p.by_login OR g.github_login = p.login
				       AND (p.login, ARRAY[u.id]) IN (SELECT login, users FROM owners)
				       AND (NOT p.personal OR CASE WHEN u.emails @> ARRAY[g.email] AND `+verifiedEmailsU+`
				            THEN g.email NOT IN (SELECT email FROM rivals WHERE n > 1)
				            ELSE g.email NOT IN (SELECT email FROM rivals) END))
				  AND (p.login = '' OR g.github_login = p.login
				       AND (p.login NOT IN (SELECT login FROM owners) OR (p.login, ARRAY[u.id]) IN (SELECT login, users FROM owners)))
			), mapped AS (
				UPDATE git_identities i SET user_id = u.id, mapped_by = $4, mapped_at = now()
				FROM holds h JOIN users u ON u.org_id = $1 AND u.id = h.user_id
				WHERE i.org_id = $1 AND i.id = h.identity_id AND i.user_id IS NULL AND i.mapped_at IS NULL
				RETURNING i.id, i.provider, i.email, i.login, u.user_name, h.reason
			), audited AS (
				INSERT INTO audit_events (org_id, actor, action, resource_type, resource_id, after)
				SELECT $1, $4, 'git.map', 'GitIdentity', m.id::text, jsonb_build_object('provider', m.provider, 'email', m.email,
					'login', m.login, 'user', m.user_name, 'auto', true, 'reason', m.reason)
				FROM mapped m
			)
			SELECT id::text FROM mapped`, orgID, ids, users, actor.String(), reasons, byLogin, logins, personal)
		if err != nil {
			return err
		}
		mapped, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		n = len(mapped)
		evs, err := gitIdentityEvents(ctx, tx, orgID, directory.EventGitIdentityMapped, mapped)
		if err != nil {
			return err
		}
		return appendEvents(ctx, tx, orgID, actor, evs)
	})
	return n, err
}

// ConflictRecord is a conflict a run found.
type ConflictRecord struct {
	Kind, IdentityID, Detail string
}

// conflictHeartbeat bounds how often an open conflict's last_seen is
// refreshed when nothing else about it changed: a run with nothing to do
// then writes nothing.
const conflictHeartbeat = time.Hour

// SaveConflicts records conflicts in one transaction: open ones are added
// (or their detail and last_seen refreshed, when the detail changed or
// last_seen is older than an hour), and the open conflicts with the ids in
// resolve are resolved. Conflicts of identities deleted meanwhile are
// skipped. It returns the rows written.
func (s *ReconcileSession) SaveConflicts(ctx context.Context, orgID string, open []ConflictRecord, resolve []string) (int, error) {
	if len(open) == 0 && len(resolve) == 0 {
		return 0, nil
	}
	kinds, ids, details := make([]string, len(open)), make([]string, len(open)), make([]string, len(open))
	for i, c := range open {
		kinds[i], ids[i], details[i] = c.Kind, c.IdentityID, c.Detail
	}
	written := 0
	err := pgx.BeginFunc(ctx, s.conn, func(tx pgx.Tx) error {
		written = 0
		if len(resolve) > 0 {
			tag, err := tx.Exec(ctx, `UPDATE reconcile_conflicts SET resolved_at = now()
				WHERE org_id = $1 AND id = ANY($2::uuid[]) AND resolved_at IS NULL`, orgID, resolve)
			if err != nil {
				return err
			}
			written += int(tag.RowsAffected())
		}
		if len(open) > 0 {
			tag, err := tx.Exec(ctx, `INSERT INTO reconcile_conflicts AS c (org_id, kind, identity_id, detail)
				SELECT $1, x.kind, x.identity_id, x.detail FROM unnest($2::text[], $3::uuid[], $4::text[]) AS x(kind, identity_id, detail)
				JOIN git_identities g ON g.org_id = $1 AND g.id = x.identity_id
				ON CONFLICT (org_id, kind, identity_id) WHERE resolved_at IS NULL DO UPDATE SET detail = EXCLUDED.detail, last_seen = now()
				WHERE c.detail IS DISTINCT FROM EXCLUDED.detail OR c.last_seen < now() - make_interval(secs => $5)`,
				orgID, kinds, ids, details, conflictHeartbeat.Seconds())
			if err != nil {
				return err
			}
			written += int(tag.RowsAffected())
		}
		return nil
	})
	return written, err
}

// ConflictStale tells whether an open conflict's last_seen is old enough
// for SaveConflicts to refresh it at now.
func ConflictStale(c ReconcileConflict, now time.Time) bool {
	return now.Sub(c.LastSeen) > conflictHeartbeat
}

// ReleaseRemoved unmaps, in one transaction, those of the identities that
// are still mapped to a removed user, with an audit event each, and
// resolves their mapped-to-removed conflicts. RemoveMember releases them
// already; this repairs what escaped it. It returns how many it released.
func (s *ReconcileSession) ReleaseRemoved(ctx context.Context, actor directory.Actor, orgID string, identityIDs []string) (int, error) {
	if len(identityIDs) == 0 {
		return 0, nil
	}
	var n int
	err := pgx.BeginFunc(ctx, s.conn, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `WITH released AS (
				UPDATE git_identities i SET user_id = NULL, mapped_by = $3, mapped_at = now()
				FROM users u WHERE i.org_id = $1 AND i.id = ANY($2::uuid[]) AND u.org_id = i.org_id AND u.id = i.user_id
				  AND u.removed_at IS NOT NULL
				RETURNING i.id, u.id AS user_id, u.user_name
			), audited AS (
				INSERT INTO audit_events (org_id, actor, action, resource_type, resource_id, before, after)
				SELECT $1, $3, 'git.unmap', 'GitIdentity', r.id::text, jsonb_build_object('user', r.user_id, 'userName', r.user_name),
					jsonb_build_object('reason', 'the user was removed from the organization')
				FROM released r
			), resolved AS (
				UPDATE reconcile_conflicts c SET resolved_at = now()
				WHERE c.org_id = $1 AND c.kind = 'mapped-to-removed' AND c.resolved_at IS NULL
				  AND c.identity_id IN (SELECT id FROM released)
			)
			SELECT id::text FROM released`, orgID, identityIDs, actor.String())
		if err != nil {
			return err
		}
		released, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		n = len(released)
		evs, err := gitIdentityEvents(ctx, tx, orgID, directory.EventGitIdentityUnmapped, released)
		if err != nil {
			return err
		}
		return appendEvents(ctx, tx, orgID, actor, evs)
	})
	return n, err
}

// PruneIdentities deletes, in one transaction, the unmapped identities
// nobody saw before cutoff (their repositories and commits go with them),
// with an audit event each. It returns how many it deleted.
func (s *ReconcileSession) PruneIdentities(ctx context.Context, actor directory.Actor, orgID string, cutoff time.Time) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.conn, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `WITH pruned AS (
				DELETE FROM git_identities i WHERE i.org_id = $1 AND i.user_id IS NULL AND greatest(i.last_seen, i.touched_at) < $2
				RETURNING i.id, i.provider, i.email, i.login, i.last_seen, i.commits
			), audited AS (
				INSERT INTO audit_events (org_id, actor, action, resource_type, resource_id, before)
				SELECT $1, $3, 'git.prune', 'GitIdentity', p.id::text, jsonb_build_object('provider', p.provider, 'email', p.email,
					'login', p.login, 'lastSeen', p.last_seen, 'commits', p.commits)
				FROM pruned p
			)
			SELECT count(*) FROM pruned`, orgID, cutoff, actor.String()).Scan(&n)
	})
	return n, err
}

// PruneHistory deletes, in one transaction, the organization's runs that
// started before cutoff and its conflicts resolved before it. It returns
// the rows deleted.
func (s *ReconcileSession) PruneHistory(ctx context.Context, orgID string, cutoff time.Time) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.conn, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `WITH runs AS (
				DELETE FROM reconcile_runs WHERE org_id = $1 AND started_at < $2 RETURNING 1
			), conflicts AS (
				DELETE FROM reconcile_conflicts WHERE org_id = $1 AND resolved_at < $2 RETURNING 1
			)
			SELECT (SELECT count(*) FROM runs) + (SELECT count(*) FROM conflicts)`, orgID, cutoff).Scan(&n)
	})
	return n, err
}

// sessionEnded is when a login session ended: its absolute expiry, or its
// revocation when that came first (least ignores a NULL revoked_at). It is
// the expression sessions_ended_idx holds, so that counting and pruning
// read the ended sessions only, not the live ones.
const sessionEnded = `least(expires_at, revoked_at)`

// PruneSessions deletes, in one transaction, the organization's login
// sessions that ended (expired or were revoked) before cutoff. An ended
// session can never be used again (SessionUser refuses it), so nothing is
// audited: its row is only clutter. It returns how many it deleted.
func (s *ReconcileSession) PruneSessions(ctx context.Context, orgID string, cutoff time.Time) (int, error) {
	tag, err := s.conn.Exec(ctx, `DELETE FROM sessions WHERE org_id = $1 AND `+sessionEnded+` < $2`, orgID, cutoff)
	return int(tag.RowsAffected()), err
}

// ReconcileRun is the record of one run for one organization.
type ReconcileRun struct {
	ID, OrgID             string
	StartedAt, FinishedAt time.Time
	Outcome               string     // RunOK, RunError or RunCancelled
	Since                 *time.Time // the watermark; nil for a full run
	Counts                json.RawMessage
	Errors                []string
}

// RecordRun stores a run's record and returns its id.
func (s *ReconcileSession) RecordRun(ctx context.Context, run ReconcileRun) (string, error) {
	counts := run.Counts
	if len(counts) == 0 {
		counts = json.RawMessage(`{}`)
	}
	errs := run.Errors
	if errs == nil {
		errs = []string{}
	}
	var id string
	err := s.conn.QueryRow(ctx, `INSERT INTO reconcile_runs (org_id, started_at, finished_at, outcome, since, counts, errors)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		run.OrgID, run.StartedAt, run.FinishedAt, run.Outcome, run.Since, counts, errs).Scan(&id)
	return id, mapErr(err, "reconcile run")
}

// ReconcileRuns lists the organization's recorded runs, newest first
// (limit 0: 50; at most 500).
func (db *DB) ReconcileRuns(ctx context.Context, orgID string, limit int) ([]ReconcileRun, error) {
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	rows, err := db.Pool.Query(ctx, `SELECT id, org_id, started_at, finished_at, outcome, since, counts, errors
		FROM reconcile_runs WHERE org_id = $1 ORDER BY started_at DESC, id LIMIT $2`, orgID, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ReconcileRun, error) {
		var run ReconcileRun
		err := r.Scan(&run.ID, &run.OrgID, &run.StartedAt, &run.FinishedAt, &run.Outcome, &run.Since, &run.Counts, &run.Errors)
		return run, err
	})
}

// ConflictQuery selects conflicts.
type ConflictQuery struct {
	// Resolved includes resolved conflicts (kept for the run history's
	// retention); open ones only otherwise.
	Resolved      bool
	Offset, Limit int
}

// ReconcileConflicts lists the organization's conflicts, open ones first,
// oldest first, each with the identity it is about and its reason.
func (db *DB) ReconcileConflicts(ctx context.Context, orgID string, q ConflictQuery) ([]ReconcileConflict, error) {
	limit := pageLimit(q.Limit)
	rows, err := db.Pool.Query(ctx, `SELECT c.id, c.org_id, c.kind, c.identity_id, c.detail, c.first_seen, c.last_seen, c.resolved_at,
			g.provider || ' ' || CASE WHEN g.email = '' THEN g.login WHEN g.login = '' THEN g.email ELSE g.email || ' (' || g.login || ')' END
		FROM reconcile_conflicts c JOIN git_identities g ON g.org_id = c.org_id AND g.id = c.identity_id
		WHERE c.org_id = $1 AND ($2 OR c.resolved_at IS NULL)
		ORDER BY (c.resolved_at IS NOT NULL), c.first_seen, c.id LIMIT $3 OFFSET $4`, orgID, q.Resolved, limit, max(q.Offset, 0))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanConflict)
}
