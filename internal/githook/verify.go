package githook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// MaxPayload is the largest webhook body accepted, in bytes.
//
// GitHub caps payloads at 25 MB and drops larger events; GitLab's payloads
// are small (a push lists at most 20 commits). We take far less than
// GitHub's cap: a push lists at most 2,048 commits (MaxCommits) and a
// commit entry with a typical message and file list is well under 1 KiB,
// so 5 MiB holds a full 2,048-commit push with room to spare (2.5 KiB a
// commit), while one request can pin only a few MiB of memory (plus the
// decoder's copy). A bigger push, say one that touches thousands of files
// per commit, is refused with 413; its identities still arrive with the
// next push or through POST /api/v1/orgs/{org}/git/observations.
const MaxPayload = 5 << 20

// unauthorized is the error every failed verification returns. The reason
// is fixed text: it never holds the secret, the expected MAC (which would
// let whoever reads the logs forge the body it was computed for) or the
// header the caller sent.
func unauthorized(reason string) error {
	return &directory.Error{Kind: directory.ErrUnauthorized, Msg: "webhook: " + reason}
}

const githubSigPrefix = "sha256="

// VerifyGitHub checks a GitHub delivery: signatureHeader is the value of
// X-Hub-Signature-256, "sha256=" and the hex HMAC-SHA256 of body keyed with
// secret. The MACs are compared in constant time (hmac.Equal). The hex may
// be in either case (GitHub sends lower case; both decode to the same MAC).
// An empty secret refuses every delivery: a webhook without a secret is not
// authenticated, and HMAC with an empty key would accept anyone who knows
// that. Any failure is directory.ErrUnauthorized with a reason safe to log.
// body must be the raw bytes received, before any decoding.
func VerifyGitHub(secret []byte, signatureHeader string, body []byte) error {
	if len(secret) == 0 {
		return unauthorized("no webhook secret is configured for GitHub")
	}
	if signatureHeader == "" {
		return unauthorized("missing X-Hub-Signature-256 header")
	}
	digest, ok := strings.CutPrefix(signatureHeader, githubSigPrefix)
	if !ok {
		return unauthorized(`X-Hub-Signature-256 must start with "sha256="`)
	}
	if len(digest) != 2*sha256.Size {
		return unauthorized("X-Hub-Signature-256 must hold 64 hex digits")
	}
	got, err := hex.DecodeString(digest)
	if err != nil {
		return unauthorized("X-Hub-Signature-256 is not hex")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return unauthorized("X-Hub-Signature-256 does not match the body")
	}
	return nil
}

// VerifyGitLab checks a GitLab delivery: GitLab sends the webhook's secret
// token as is in X-Gitlab-Token. The comparison is in constant time over
// the SHA-256 digests of both values, so neither the content nor the length
// of the secret leaks through timing. An empty secret refuses every
// delivery. Any failure is directory.ErrUnauthorized with a reason safe to
// log.
func VerifyGitLab(secret []byte, tokenHeader string) error {
	if len(secret) == 0 {
		return unauthorized("no webhook secret is configured for GitLab")
	}
	if tokenHeader == "" {
		return unauthorized("missing X-Gitlab-Token header")
	}
	want := sha256.Sum256(secret)
	got := sha256.Sum256([]byte(tokenHeader))
	if subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		return unauthorized("X-Gitlab-Token does not match")
	}
	return nil
}
