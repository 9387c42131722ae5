// Package sync is scimbridge's reconciler: scheduled jobs that keep Git
// identities, users and their lifecycle consistent with one another, and
// report what they must not decide alone.
//
// Why it exists: SCIM pushes, logins and push webhooks each change one
// thing at a time, and none of them sees the whole picture. A commit
// author's address becomes a user's only when the IdP later sends that
// email; a user's email changes after one of its identities was mapped;
// an identity nobody has seen for half a year clutters the mapping screen.
// The reconciler closes those gaps on a schedule (robfig/cron, every five
// minutes by default) and on demand (`scimbridge reconcile --once`).
//
// The package is named after its folder, as the design's card asks;
// importers alias it where it meets the standard library's sync:
//
//	import reconcile "github.com/scimbridge/scimbridge/sync"
//
// # Jobs
//
// A run does, for each organization in turn:
//
//  1. auto-map: an unmapped identity whose email is a verified email of
//     exactly one active, non-removed user is mapped to that user, with the
//     conditional update of a manual mapping and an audit event by
//     system:reconciler. Addresses directory.PersonalEmail rejects
//     (noreply, localhost, bots) are never matched. Only identities that
//     were never mapped are auto-mapped: one an admin unmapped, or one
//     released when its user was removed, stays unmapped until a person
//     maps it, so the reconciler never undoes a person's decision.
//     A GitHub identity is also mapped by its login (GitHub logins compare
//     case-insensitively; a noreply address ID+login@users.noreply.github.com
//     carries one): when the organization's mapped GitHub identities with
//     that login all belong to one active user, the account is that
//     user's, whatever the address (the address is not what is matched).
//     A deactivated owner holds its login's siblings unmapped; its
//     reactivation maps them.
//  2. conflicts: instead of guessing it records, with the reason in words,
//     an email that two or more active users claim, a GitHub login on
//     identities mapped to two users (or mapped to A while the identity's
//     email is B's, or on unmapped identities whose emails are two users'),
//     a mapping its GitHub login contradicts (mapped to A, but the login's
//     other mapped identities are all B's; a deactivated B still owns the
//     login, a removed one's mappings are released), an identity mapped to
//     a removed user, and a mapping that contradicts a newer email (mapped
//     to A, but the address is now B's and no longer A's). It changes no
//     mapping for them. A conflict is
//     resolved (resolved_at) by the first run that finds it no longer holds.
//  3. lifecycle: a deactivated user keeps its mappings, so that resolve
//     still answers who pushed, marked deactivated; that is what
//     "suspended" means here, and a reactivation restores them by itself.
//     Removal releases them (RemoveMember does; this job releases what
//     escaped it and resolves the conflict).
//  4. service-accounts: declared service accounts (a YAML file,
//     Config.ServiceAccountsFile; format in declared.go): creates what is
//     missing, updates what differs, disables declared accounts the file
//     no longer lists (never deletes); an invalid file changes nothing.
//     Each account's change is one transaction, so an account is always
//     wholly as it was or wholly as declared.
//  5. expiry: invitations and tokens expire by their own time (their state
//     is computed at use), so they are counted, not written; unmapped
//     identities nobody saw within the retention window are deleted; run
//     records and resolved conflicts older than the history window go, and
//     so do login sessions that ended (expired or revoked) over a day ago,
//     and the records of webhook deliveries received over a week ago (a
//     copy of one is ignored while its record lasts).
//
// # Safety
//
// Only one run at a time, across replicas: a run takes a PostgreSQL
// session advisory lock with pg_try_advisory_lock on one connection and
// does all its work on that connection, so the lock cannot outlive the
// work or the work the lock. A run that finds the lock taken does nothing
// and says so (Summary.Skipped). The lock keeps runs apart, not ticks:
// replicas fire a tick at moments apart by their clocks' skew, which may
// be longer than a small organization's run. So a scheduled run leaves out
// an organization whose last successful run began, by the database's
// clock, less than half the schedule's period ago (at most a minute): a
// replica whose tick came first has run it.
//
// A run first reads what it needs in one repeatable-read snapshot (the
// survey) and computes a plan from it; a dry run stops there and reports
// the plan. Each job then writes in its own transaction (the
// service-accounts job, in one per account), and every write
// re-checks in SQL the condition it was planned on, so a run killed
// between or inside jobs leaves whole steps behind and the next run
// converges.
//
// # Incremental runs
//
// A run reads only what changed since the organization's last successful
// run (its watermark): identities written since (git_identities.touched_at,
// on the database's clock — last_seen is a commit's own date), identities
// of users updated since, identities whose email is a changed user's,
// identities with an open conflict, and the identities sharing a GitHub
// login with any of those. Its cost grows with the changes, not
// with the tables, and a run with nothing to do writes nothing but its own
// record. The watermark is moved back by Config.Overlap, because now() in
// PostgreSQL is a transaction's start time: a change committed just after
// the previous run's snapshot carries an earlier time. A full run (the
// first, and one every Config.FullSweepEvery) catches anything else that
// escaped, such as a SCIM hard delete that made another user's email
// unique.
package sync
