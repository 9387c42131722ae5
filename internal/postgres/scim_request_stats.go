package postgres

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// Provisioning health's counters (migration 00035). SCIM requests are
// counted in memory and added to the table in one transaction per flush,
// as TokenUsage does for last-used times: an IdP's push of thousands of
// requests a minute costs a few statements every few seconds, not one
// per request.

// statsBucket is the width of a counter's time bucket: the windows of
// the health report (1 h, 24 h, 7 d) are read as whole buckets.
const statsBucket = 10 * time.Minute

// statsRetention is how long counters are kept: the longest window and
// a day to spare.
const statsRetention = 8 * 24 * time.Hour

// maxPendingFailures bounds the failed requests held in memory between
// two flushes, across organizations (each holds at most
// directory.MaxRecentFailures): a storm of failures costs bounded memory.
const maxPendingFailures = 2000

type statKey struct {
	org, token, op string
	bucket         time.Time
	status         int
	scimType       string
}

type lastRequest struct {
	at     time.Time
	op     string
	status int
	client string
}

// HealthRecorder records SCIM requests for provisioning health.
type HealthRecorder struct {
	db  *DB
	now func() time.Time
	mu  sync.Mutex
	// counts since the last flush
	counts map[statKey]int64
	last   map[[2]string]lastRequest
	// failures since the last flush, per organization, oldest first
	failures map[string][]directory.SCIMRequest
	pending  int
	pruned   time.Time // when counters were last pruned
}

// NewHealthRecorder returns a recorder for db; now is its clock (nil:
// time.Now), which the tests set.
func (db *DB) NewHealthRecorder(now func() time.Time) *HealthRecorder {
	if now == nil {
		now = time.Now
	}
	return &HealthRecorder{db: db, now: now, counts: map[statKey]int64{}, last: map[[2]string]lastRequest{},
		failures: map[string][]directory.SCIMRequest{}}
}

// Record notes one request. It does no I/O and never blocks for long.
func (h *HealthRecorder) Record(r directory.SCIMRequest) {
	if r.OrgID == "" || r.TokenID == "" {
		return
	}
	if r.At.IsZero() {
		r.At = h.now()
	}
	if !directory.ScimTypes[r.ScimType] {
		r.ScimType = ""
	}
	k := statKey{org: r.OrgID, token: r.TokenID, op: r.Operation, bucket: r.At.UTC().Truncate(statsBucket), status: r.Status, scimType: r.ScimType}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[k]++
	lk := [2]string{r.OrgID, r.TokenID}
	if cur, ok := h.last[lk]; !ok || !r.At.Before(cur.at) {
		h.last[lk] = lastRequest{at: r.At, op: r.Operation, status: r.Status, client: r.Client}
	}
	if !r.Failed() {
		return
	}
	list := h.failures[r.OrgID]
	if len(list) >= directory.MaxRecentFailures {
		list = append(list[:0], list[1:]...) // the oldest goes: only the newest are kept anyway
		h.pending--
	}
	if h.pending >= maxPendingFailures {
		return
	}
	h.failures[r.OrgID] = append(list, r)
	h.pending++
}

// Flush writes what was recorded since the last flush, in one
// transaction. On error what was taken is lost (health is a report, not a
// ledger), and the error is returned.
func (h *HealthRecorder) Flush(ctx context.Context) error {
	h.mu.Lock()
	counts, last, failures := h.counts, h.last, h.failures
	h.counts, h.last, h.failures, h.pending = map[statKey]int64{}, map[[2]string]lastRequest{}, map[string][]directory.SCIMRequest{}, 0
	prune := h.now().Sub(h.pruned) > time.Hour
	if prune {
		h.pruned = h.now()
	}
	h.mu.Unlock()
	if len(counts) == 0 && len(last) == 0 && len(failures) == 0 && !prune {
		return nil
	}
	b := &pgx.Batch{}
	if len(counts) > 0 {
		// In key order, so that replicas flushing the same keys lock them
		// in the same order and never deadlock.
		keys := make([]statKey, 0, len(counts))
		for k := range counts {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b statKey) int {
			return cmp.Or(cmp.Compare(a.org, b.org), a.bucket.Compare(b.bucket), cmp.Compare(a.token, b.token),
				cmp.Compare(a.op, b.op), cmp.Compare(a.status, b.status), cmp.Compare(a.scimType, b.scimType))
		})
		var orgs, tokens, ops, types []string
		var buckets []time.Time
		var statuses []int16
		var ns []int64
		for _, k := range keys {
			orgs, tokens, ops, types = append(orgs, k.org), append(tokens, k.token), append(ops, k.op), append(types, k.scimType)
			buckets, statuses, ns = append(buckets, k.bucket), append(statuses, int16(k.status)), append(ns, counts[k])
		}
		b.Queue(`INSERT INTO scim_request_stats AS s (org_id, bucket, token_id, operation, status, scim_type, requests)
			SELECT u.org_id, u.bucket, u.token_id, u.operation, u.status, u.scim_type, u.n
			FROM unnest($1::uuid[], $2::timestamptz[], $3::uuid[], $4::text[], $5::smallint[], $6::text[], $7::bigint[])
				AS u(org_id, bucket, token_id, operation, status, scim_type, n)
			WHERE EXISTS (SELECT 1 FROM scim_tokens t WHERE t.org_id = u.org_id AND t.id = u.token_id)
			ON CONFLICT (org_id, bucket, token_id, operation, status, scim_type) DO UPDATE SET requests = s.requests + excluded.requests`,
			orgs, buckets, tokens, ops, statuses, types, ns)
	}
	if len(last) > 0 {
		keys := make([][2]string, 0, len(last))
		for k := range last {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
		var orgs, tokens, ops, clients []string
		var ats []time.Time
		var statuses []int16
		for _, k := range keys {
			l := last[k]
			orgs, tokens, ops, clients = append(orgs, k[0]), append(tokens, k[1]), append(ops, l.op), append(clients, l.client)
			ats, statuses = append(ats, l.at), append(statuses, int16(l.status))
		}
		b.Queue(`INSERT INTO scim_token_last_request AS l (org_id, token_id, at, operation, status, client)
			SELECT u.org_id, u.token_id, u.at, u.operation, u.status, u.client
			FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::text[], $5::smallint[], $6::text[])
				AS u(org_id, token_id, at, operation, status, client)
			WHERE EXISTS (SELECT 1 FROM scim_tokens t WHERE t.org_id = u.org_id AND t.id = u.token_id)
			ON CONFLICT (org_id, token_id) DO UPDATE SET at = excluded.at, operation = excluded.operation,
				status = excluded.status, client = excluded.client
			WHERE excluded.at >= l.at`, orgs, tokens, ats, ops, statuses, clients)
	}
	if len(failures) > 0 {
		queueFailures(b, failures)
	}
	if prune {
		b.Queue(`DELETE FROM scim_request_stats WHERE bucket < $1`, h.now().Add(-statsRetention))
	}
	return h.db.inTx(ctx, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b).Close() })
}

// Run flushes every interval until ctx ends, then once more.
func (h *HealthRecorder) Run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := h.Flush(fctx); err != nil {
				h.db.log.Warn("flush provisioning health", "err", err)
			}
			cancel()
			return
		case <-tick.C:
			if err := h.Flush(ctx); err != nil {
				h.db.log.Warn("flush provisioning health", "err", err)
			}
		}
	}
}

// ProvisioningHealth reports an organization's SCIM traffic as of now:
// requests and failures per window, the tokens' last requests, the last
// failed requests and Okta's stopping 409s.
func (db *DB) ProvisioningHealth(ctx context.Context, orgID string, now time.Time) (directory.ProvisioningHealth, error) {
	out := directory.ProvisioningHealth{At: now}
	// A bucket belongs to a window when any of it falls inside: a window
	// reads up to one bucket more than its length.
	from := make([]time.Time, len(directory.HealthWindows))
	for i, w := range directory.HealthWindows {
		from[i] = now.Add(-w.D - statsBucket)
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT operation, status, scim_type,
			coalesce(sum(requests) FILTER (WHERE bucket > $2), 0),
			coalesce(sum(requests) FILTER (WHERE bucket > $3), 0),
			coalesce(sum(requests), 0)
		FROM scim_request_stats WHERE org_id = $1 AND bucket > $4
		GROUP BY operation, status, scim_type ORDER BY operation, status, scim_type`, orgID, from[0], from[1], from[2])
	b.Queue(`SELECT t.id, t.name, t.revoked_at IS NOT NULL, l.at, coalesce(l.operation, ''), coalesce(l.status, 0), coalesce(l.client, '')
		FROM scim_tokens t LEFT JOIN scim_token_last_request l ON l.org_id = t.org_id AND l.token_id = t.id
		WHERE t.org_id = $1 AND ((t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)) OR l.at > $3)
		ORDER BY l.at DESC NULLS LAST, t.created_at DESC`, orgID, now, from[2])
	b.Queue(`SELECT f.at, f.token_id, coalesce(t.name, ''), f.operation, f.method, f.path, f.status, f.scim_type, f.detail, f.body, f.client
		FROM scim_failures f LEFT JOIN scim_tokens t ON t.org_id = f.org_id AND t.id = f.token_id
		WHERE f.org_id = $1 ORDER BY f.at DESC, f.id DESC LIMIT $2`, orgID, directory.MaxRecentFailures)
	type row struct {
		op       string
		status   int
		scimType string
		n        [3]int
	}
	var rows []row
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		rs, err := br.Query()
		if err != nil {
			return err
		}
		rows, err = pgx.CollectRows(rs, func(r pgx.CollectableRow) (row, error) {
			var x row
			var st int16
			err := r.Scan(&x.op, &st, &x.scimType, &x.n[0], &x.n[1], &x.n[2])
			x.status = int(st)
			return x, err
		})
		if err != nil {
			return err
		}
		rs, err = br.Query()
		if err != nil {
			return err
		}
		out.Tokens, err = pgx.CollectRows(rs, func(r pgx.CollectableRow) (directory.TokenActivity, error) {
			var a directory.TokenActivity
			var st int16
			err := r.Scan(&a.TokenID, &a.Name, &a.Revoked, &a.LastAt, &a.LastOperation, &st, &a.Client)
			a.LastStatus = int(st)
			return a, err
		})
		if err != nil {
			return err
		}
		rs, err = br.Query()
		if err != nil {
			return err
		}
		out.Recent, err = pgx.CollectRows(rs, func(r pgx.CollectableRow) (directory.FailedRequest, error) {
			var f directory.FailedRequest
			var st int16
			err := r.Scan(&f.At, &f.TokenID, &f.TokenName, &f.Operation, &f.Method, &f.Path, &st, &f.ScimType, &f.Detail, &f.Body, &f.Client)
			f.Status = int(st)
			return f, err
		})
		return err
	})
	if err != nil {
		return out, err
	}
	for i, w := range directory.HealthWindows {
		hw := directory.HealthWindow{Window: w.Name}
		ops := map[string]*directory.OperationCount{}
		for _, x := range rows {
			n := x.n[i]
			if n == 0 {
				continue
			}
			oc := ops[x.op]
			if oc == nil {
				oc = &directory.OperationCount{Operation: x.op}
				ops[x.op] = oc
			}
			hw.Requests += n
			oc.Requests += n
			if directory.IsSCIMFailure(x.op, x.status) {
				hw.Failures += n
				oc.Failures += n
				hw.ByError = append(hw.ByError, directory.ErrorCount{Operation: x.op, Status: x.status, ScimType: x.scimType, Count: n})
			}
			if i == 1 && x.op == "POST /Users" && x.status == 409 {
				out.Okta409 += n
			}
		}
		for _, oc := range ops {
			hw.ByOperation = append(hw.ByOperation, *oc)
		}
		slices.SortFunc(hw.ByOperation, func(a, b directory.OperationCount) int {
			return cmp.Or(cmp.Compare(b.Requests, a.Requests), cmp.Compare(a.Operation, b.Operation))
		})
		slices.SortStableFunc(hw.ByError, func(a, b directory.ErrorCount) int { return cmp.Compare(b.Count, a.Count) })
		hw.State = directory.HealthState(hw.Requests, hw.Failures)
		out.Windows = append(out.Windows, hw)
	}
	return out, nil
}
