package directory

import "time"

// Provisioning health: what an organization's SCIM clients asked and how
// it went, recorded per request by the SCIM adapter and summarised for the
// organization's admins (docs/provisioning.md).

// Thresholds of the failure ratio. Microsoft Entra ID quarantines a
// provisioning job when more than 40 % of its requests fail; the warning
// comes well before, at 20 %.
const (
	QuarantineRatio = 0.40
	WarnRatio       = 0.20
)

// Health states of a window's failure ratio.
const (
	HealthOK       = "ok"
	HealthWarn     = "warn"       // WarnRatio or more failing
	HealthCritical = "quarantine" // more than QuarantineRatio failing: Entra quarantines the app
)

// HealthState is the state of a failure ratio.
func HealthState(requests, failures int) string {
	if requests == 0 {
		return HealthOK
	}
	r := float64(failures) / float64(requests)
	switch {
	case r > QuarantineRatio:
		return HealthCritical
	case r >= WarnRatio:
		return HealthWarn
	}
	return HealthOK
}

// SCIM clients, recognised by their User-Agent; anything else is "other".
const (
	ClientOkta  = "okta"
	ClientEntra = "entra"
	ClientOther = "other"
)

// SCIMRequest is one SCIM request as provisioning health records it. Every
// string that becomes a counter's key (Operation, ScimType, Client) is
// from a fixed set; the detail fields are kept only for failures.
type SCIMRequest struct {
	OrgID   string
	OrgSlug string
	// TokenID is the token that authenticated the request, or the revoked
	// or expired token it presented; never "" (requests with unknown
	// tokens are not recorded: anyone can send them).
	TokenID   string
	At        time.Time
	Operation string // "POST /Users", "PATCH /Groups/{id}", …
	Status    int
	ScimType  string // an RFC 7644 §3.12 scimType, or ""
	Client    string // ClientOkta, ClientEntra or ClientOther
	// Paused: a deactivation held by the mass-deactivation rail.
	Paused bool
	// For failures only:
	Method string
	Path   string // path and query, bounded
	Detail string // the error's detail, as answered
	Body   string // the request body, secrets removed, bounded
}

// Failed tells whether the request counts as a failure: any answer of
// 400 or more, except a 404 to a GET of one resource (the IdPs look
// resources up that way, and "not there" is an answer) and a 304.
func (r SCIMRequest) Failed() bool {
	return IsSCIMFailure(r.Operation, r.Status)
}

// IsSCIMFailure is SCIMRequest.Failed on an operation and a status.
func IsSCIMFailure(operation string, status int) bool {
	if status < 400 {
		return false
	}
	if status == 404 && len(operation) > 4 && operation[:4] == "GET " {
		return false
	}
	return true
}

// ScimTypes is the fixed set of RFC 7644 §3.12 error types; anything
// else is recorded as "".
var ScimTypes = map[string]bool{
	"invalidFilter": true, "tooMany": true, "uniqueness": true, "mutability": true, "invalidSyntax": true,
	"invalidPath": true, "noTarget": true, "invalidValue": true, "invalidVers": true, "sensitive": true,
}

// HealthWindow is the organization's SCIM traffic over one window.
type HealthWindow struct {
	Window      string // "1h", "24h", "7d"
	Requests    int
	Failures    int
	State       string
	ByOperation []OperationCount
	ByError     []ErrorCount
}

// Ratio is the window's failure ratio (0 without requests).
func (w HealthWindow) Ratio() float64 {
	if w.Requests == 0 {
		return 0
	}
	return float64(w.Failures) / float64(w.Requests)
}

// OperationCount is one operation's requests and failures in a window.
type OperationCount struct {
	Operation string
	Requests  int
	Failures  int
}

// ErrorCount is how many failures of one kind a window had.
type ErrorCount struct {
	Operation string
	Status    int
	ScimType  string
	Count     int
}

// TokenActivity is a SCIM token's last request.
type TokenActivity struct {
	TokenID       string
	Name          string
	Revoked       bool
	LastAt        *time.Time
	LastOperation string
	LastStatus    int
	Client        string
}

// FailedRequest is one failed request with its detail.
type FailedRequest struct {
	At        time.Time
	TokenID   string
	TokenName string
	Operation string
	Method    string
	Path      string
	Status    int
	ScimType  string
	Detail    string
	Body      string
	Client    string
}

// OktaStopsOn409 tells whether a failure is one that stops an Okta import
// or push job: a 409 to the POST /Users that Okta expected to create.
func (f FailedRequest) OktaStopsOn409() bool {
	return f.Status == 409 && f.Operation == "POST /Users"
}

// ProvisioningHealth is an organization's provisioning health.
type ProvisioningHealth struct {
	At      time.Time
	Windows []HealthWindow // 1h, 24h, 7d
	Tokens  []TokenActivity
	// Recent holds the last failed requests, newest first (at most
	// MaxRecentFailures).
	Recent []FailedRequest
	// Okta409 counts, over 24 hours, the 409s answered to POST /Users:
	// Okta stops the job on each.
	Okta409 int
}

// MaxRecentFailures is how many failed requests are kept per organization.
const MaxRecentFailures = 100

// HealthWindows are the windows of ProvisioningHealth, shortest first.
var HealthWindows = []struct {
	Name string
	D    time.Duration
}{{"1h", time.Hour}, {"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}}
