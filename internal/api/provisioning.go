package api

import (
	"context"
	"net/http"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// Provisioning: health of the organization's SCIM traffic
// (docs/provisioning.md).

// ProvisioningStore is what the provisioning routes need of the store;
// *postgres.DB has it. New takes it from Config.Store when the store has
// it.
type ProvisioningStore interface {
	// ProvisioningHealth reports the organization's SCIM traffic as of now.
	ProvisioningHealth(ctx context.Context, orgID string, now time.Time) (directory.ProvisioningHealth, error)
}

type healthJSON struct {
	At         time.Time           `json:"at"`
	State      string              `json:"state"`
	Thresholds healthThresholdJSON `json:"thresholds"`
	Windows    []healthWindowJSON  `json:"windows"`
	Tokens     []tokenActivityJSON `json:"tokens"`
	Okta409    okta409JSON         `json:"okta409"`
	Recent     []failedRequestJSON `json:"recentFailures"`
}

type healthThresholdJSON struct {
	Warn       float64 `json:"warn"`
	Quarantine float64 `json:"quarantine"`
}

type healthWindowJSON struct {
	Window       string               `json:"window"`
	Requests     int                  `json:"requests"`
	Failures     int                  `json:"failures"`
	FailureRatio float64              `json:"failureRatio"`
	State        string               `json:"state"`
	ByOperation  []operationCountJSON `json:"byOperation"`
	ByError      []errorCountJSON     `json:"byError"`
}

type operationCountJSON struct {
	Operation string `json:"operation"`
	Requests  int    `json:"requests"`
	Failures  int    `json:"failures"`
}

type errorCountJSON struct {
	Operation string `json:"operation"`
	Status    int    `json:"status"`
	ScimType  string `json:"scimType"`
	Count     int    `json:"count"`
}

type tokenActivityJSON struct {
	ID            string     `json:"id"`
	Name          string     `json:"name"`
	Revoked       bool       `json:"revoked"`
	LastRequestAt *time.Time `json:"lastRequestAt"`
	LastOperation string     `json:"lastOperation"`
	LastStatus    int        `json:"lastStatus"`
	Client        string     `json:"client"`
}

type okta409JSON struct {
	Last24h int                 `json:"last24h"`
	Note    string              `json:"note"`
	Recent  []failedRequestJSON `json:"recent"`
}

type failedRequestJSON struct {
	At        time.Time `json:"at"`
	Token     string    `json:"token"`
	Operation string    `json:"operation"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Status    int       `json:"status"`
	ScimType  string    `json:"scimType"`
	Detail    string    `json:"detail"`
	Body      string    `json:"body"`
	Client    string    `json:"client"`
	// OktaStops marks a 409 to POST /Users, on which Okta stops its job.
	OktaStops bool `json:"oktaStopsJob"`
}

// errNoProvisioning answers the provisioning routes of a server whose
// store keeps no provisioning records.
var errNoProvisioning = directory.NotFoundf("provisioning records are not kept by this server")

// okta409Note explains the call-out.
const okta409Note = "Okta stops the import or push job at a 409 to a POST /Users it expected to create: find the existing user (userName or email taken, perhaps by a user another source manages) and resolve it before Okta retries"

func renderHealth(ph directory.ProvisioningHealth) healthJSON {
	out := healthJSON{At: ph.At, State: directory.HealthOK,
		Thresholds: healthThresholdJSON{Warn: directory.WarnRatio, Quarantine: directory.QuarantineRatio},
		Windows:    make([]healthWindowJSON, 0, len(ph.Windows)), Tokens: make([]tokenActivityJSON, 0, len(ph.Tokens)),
		Recent:  make([]failedRequestJSON, 0, len(ph.Recent)),
		Okta409: okta409JSON{Last24h: ph.Okta409, Note: okta409Note, Recent: []failedRequestJSON{}}}
	rank := map[string]int{directory.HealthOK: 0, directory.HealthWarn: 1, directory.HealthCritical: 2}
	for _, w := range ph.Windows {
		j := healthWindowJSON{Window: w.Window, Requests: w.Requests, Failures: w.Failures, FailureRatio: w.Ratio(), State: w.State,
			ByOperation: make([]operationCountJSON, 0, len(w.ByOperation)), ByError: make([]errorCountJSON, 0, len(w.ByError))}
		for _, o := range w.ByOperation {
			j.ByOperation = append(j.ByOperation, operationCountJSON(o))
		}
		for _, e := range w.ByError {
			j.ByError = append(j.ByError, errorCountJSON(e))
		}
		// The overall state is the worst of the hour and the day: a
		// week's average would hide today's outage.
		if w.Window != "7d" && rank[w.State] > rank[out.State] {
			out.State = w.State
		}
		out.Windows = append(out.Windows, j)
	}
	for _, t := range ph.Tokens {
		out.Tokens = append(out.Tokens, tokenActivityJSON{ID: t.TokenID, Name: t.Name, Revoked: t.Revoked, LastRequestAt: t.LastAt,
			LastOperation: t.LastOperation, LastStatus: t.LastStatus, Client: t.Client})
	}
	for _, f := range ph.Recent {
		j := failedRequestJSON{At: f.At, Token: f.TokenName, Operation: f.Operation, Method: f.Method, Path: f.Path, Status: f.Status,
			ScimType: f.ScimType, Detail: f.Detail, Body: f.Body, Client: f.Client, OktaStops: f.OktaStopsOn409()}
		out.Recent = append(out.Recent, j)
		if j.OktaStops {
			out.Okta409.Recent = append(out.Okta409.Recent, j)
		}
	}
	return out
}

// provisioningHealth answers the organization's provisioning health.
func (h *Handler) provisioningHealth(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.prov == nil {
		return errNoProvisioning
	}
	ph, err := h.prov.ProvisioningHealth(r.Context(), c.org.ID, time.Now())
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, renderHealth(ph))
}
