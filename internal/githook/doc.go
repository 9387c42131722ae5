// Package githook reads the push webhooks of Git hosts: it checks that a
// delivery comes from the host (GitHub's X-Hub-Signature-256 HMAC, GitLab's
// X-Gitlab-Token) and turns a push payload into the commit authors,
// committers and pusher it names, as directory.GitObservation values.
//
// Why: when a push to a synced repository triggers a run, the platform asks
// scimbridge who triggered it, and the answer is only as good as the Git
// identities scimbridge has seen and mapped to users. Push webhooks are how
// it sees them without polling the hosts.
//
// The adapter that serves /hooks/{org}/github and /hooks/{org}/gitlab uses
// this package in this order, and stores nothing unless every step passes:
//
//  1. read at most MaxPayload bytes of the body (http.MaxBytesReader); a
//     larger body is 413 and is not read further;
//  2. verify the delivery against the organization's webhook secret
//     (VerifyGitHub or VerifyGitLab) before looking at anything else in it,
//     so an unauthenticated caller learns nothing; failure is
//     directory.ErrUnauthorized, answered 401;
//  3. classify the event from its header (GitHubEvent, GitLabEvent): a
//     GitHub "ping" is answered 200 with nothing stored, events other than
//     pushes are acknowledged and ignored;
//  4. parse the push (ParseGitHubPush, ParseGitLabPush); a malformed payload
//     is directory.ErrInvalid, answered 400;
//  5. store the observations in one transaction (identities upserted,
//     commits idempotent by (repo, sha)), with its audit event.
//
// The parsers are pure functions of the body: they read no clock and no
// headers, ignore unknown fields, and return observations that pass
// directory.GitObservation.Validate, in payload order (each commit's author,
// then its committer, then the head commit when it is not among the commits,
// then the pusher), without duplicates: one observation per (role, commit,
// normalized email, login), and none that has neither email nor login.
// A pusher's At is zero when the payload gives no push time (GitLab never
// does); the adapter stamps it with the time of receipt.
package githook
