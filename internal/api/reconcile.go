package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

type reconcileRunJSON struct {
	ID         string          `json:"id"`
	StartedAt  time.Time       `json:"startedAt"`
	FinishedAt time.Time       `json:"finishedAt"`
	Outcome    string          `json:"outcome"`
	Since      *time.Time      `json:"since"` // null for a full run
	Counts     json.RawMessage `json:"counts"`
	Errors     []string        `json:"errors"`
}

// listReconcileRuns lists the reconciler's recorded runs, newest first.
func (h *Handler) listReconcileRuns(w http.ResponseWriter, r *http.Request, c *call) error {
	limit := 50
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			return directory.Invalidf("limit %q: want 1-500", s)
		}
		limit = n
	}
	runs, err := h.store.ReconcileRuns(r.Context(), c.org.ID, limit)
	if err != nil {
		return err
	}
	out := list[reconcileRunJSON]{Items: make([]reconcileRunJSON, 0, len(runs)), Total: len(runs), Offset: 0, Limit: limit}
	for _, run := range runs {
		counts := run.Counts
		if len(counts) == 0 {
			counts = json.RawMessage(`{}`)
		}
		out.Items = append(out.Items, reconcileRunJSON{ID: run.ID, StartedAt: run.StartedAt, FinishedAt: run.FinishedAt,
			Outcome: run.Outcome, Since: run.Since, Counts: counts, Errors: run.Errors})
	}
	return h.writeJSON(w, r, http.StatusOK, out)
}

type conflictJSON struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	IdentityID string     `json:"identityId"`
	Identity   string     `json:"identity"`
	Reason     string     `json:"reason"`
	FirstSeen  time.Time  `json:"firstSeen"`
	LastSeen   time.Time  `json:"lastSeen"`
	ResolvedAt *time.Time `json:"resolvedAt"`
}

// listGitConflicts lists what the reconciler would not guess, with reasons.
func (h *Handler) listGitConflicts(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	q := postgres.ConflictQuery{Offset: p.offset, Limit: p.limit}
	if q.Resolved, err = queryBool(r.URL.Query(), "resolved", false); err != nil {
		return err
	}
	conflicts, err := h.store.ReconcileConflicts(r.Context(), c.org.ID, q)
	if err != nil {
		return err
	}
	out := list[conflictJSON]{Items: make([]conflictJSON, 0, len(conflicts)), Total: p.offset + len(conflicts), Offset: p.offset, Limit: p.limit}
	for _, cf := range conflicts {
		out.Items = append(out.Items, conflictJSON{ID: cf.ID, Kind: cf.Kind, IdentityID: cf.IdentityID, Identity: cf.Identity,
			Reason: cf.Detail, FirstSeen: cf.FirstSeen, LastSeen: cf.LastSeen, ResolvedAt: cf.ResolvedAt})
	}
	return h.writeJSON(w, r, http.StatusOK, out)
}
