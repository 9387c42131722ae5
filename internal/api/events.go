package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// The change feed (docs/events.md): every committed change a platform
// cares about, in commit order, from a cursor the platform keeps. The
// feed is the store's (events are numbered after commit by the one
// sequencer, so a page never skips an event a later page would show);
// this adapter reads pages and says what to do when a cursor is older
// than the retention: take the head, list the resources again, follow
// from the head.

// Bounds of ?limit= on the feed.
const (
	defaultEventLimit = 100
	maxEventLimit     = 1000
)

type eventsJSON struct {
	Events []directory.Event `json:"events"`
	// Next is the cursor to ask with next: after the last event of the
	// page, or the request's own cursor when the page is empty.
	Next string `json:"next"`
}

type eventsHeadJSON struct {
	// Head is the cursor just after the newest event in the feed now.
	Head string `json:"head"`
}

// listEvents answers a page of the feed after ?after= (the beginning when
// absent), of the ?types= named (comma-separated; "user.*" names a
// family), at most ?limit= events (1–1000, default 100).
func (h *Handler) listEvents(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	after, err := directory.ParseCursor(q.Get("after"))
	if err != nil {
		return err
	}
	types, err := directory.ParseEventTypes(strings.Join(q["types"], ","))
	if err != nil {
		return err
	}
	limit := defaultEventLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxEventLimit {
			return directory.Invalidf("limit %q: want an integer from 1 to %d", s, maxEventLimit)
		}
		limit = n
	}
	page, err := h.store.Events(r.Context(), c.org.ID, after, types, limit)
	if errors.Is(err, directory.ErrGone) {
		return &apiError{kind: kindGone, msg: "the events after this cursor are no longer kept (they are older than the retention): " +
			"take the head (GET /api/v1/orgs/" + c.org.Slug + "/events/head), list the resources again " +
			"(users, service accounts, invitations, Git identities, and each user's permissions), then follow the feed from the head"}
	}
	if err != nil {
		return err
	}
	out := eventsJSON{Events: page.Events, Next: directory.FeedCursor(page.Next)}
	if out.Events == nil {
		out.Events = []directory.Event{}
	}
	return h.writeJSON(w, r, http.StatusOK, out)
}

// eventsHead answers the cursor of the feed's newest event: a consumer
// that starts (or resynchronises) takes it first, then lists the
// resources, then follows the feed from it. Changes between the two are
// both listed and in the feed after the head; each event carries its
// whole resource, so applying them again is harmless.
func (h *Handler) eventsHead(w http.ResponseWriter, r *http.Request, c *call) error {
	head, err := h.store.EventsHead(r.Context(), c.org.ID)
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, eventsHeadJSON{Head: directory.FeedCursor(head)})
}
