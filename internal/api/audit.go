package api

import (
	"net/http"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// listAudit pages through the audit trail, newest first, filtered by
// actor, action, resource and time (since inclusive, until exclusive).
func (h *Handler) listAudit(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	aq := postgres.AuditQuery{
		Actor: q.Get("actor"), Action: q.Get("action"), ResourceType: q.Get("resourceType"), ResourceID: q.Get("resourceId"),
		Offset: p.offset, Limit: p.limit,
	}
	for _, t := range []struct {
		name string
		dst  **time.Time
	}{{"since", &aq.Since}, {"until", &aq.Until}} {
		s := q.Get(t.name)
		if s == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return directory.Invalidf("%s %q: want an RFC 3339 time such as 2024-05-01T00:00:00Z", t.name, s)
		}
		*t.dst = &v
	}
	events, total, err := h.store.QueryAudit(r.Context(), c.org.ID, aq)
	if err != nil {
		return err
	}
	out := list[auditJSON]{Items: make([]auditJSON, 0, len(events)), Total: total, Offset: p.offset, Limit: p.limit}
	for _, e := range events {
		out.Items = append(out.Items, renderAudit(e))
	}
	return h.writeJSON(w, r, http.StatusOK, out)
}
