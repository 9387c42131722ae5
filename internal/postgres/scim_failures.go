package postgres

import (
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// queueFailures queues the insert of failed requests (oldest first per
// organization) and the trim that keeps each organization's newest
// directory.MaxRecentFailures.
func queueFailures(b *pgx.Batch, failures map[string][]directory.SCIMRequest) {
	orgIDs := make([]string, 0, len(failures))
	for org := range failures {
		orgIDs = append(orgIDs, org)
	}
	slices.Sort(orgIDs)
	var orgs, tokens, ops, methods, paths, types, details, bodies, clients []string
	var ats []time.Time
	var statuses []int16
	for _, org := range orgIDs {
		for _, f := range failures[org] {
			orgs, tokens, ops, methods = append(orgs, org), append(tokens, f.TokenID), append(ops, f.Operation), append(methods, f.Method)
			paths, types, details, bodies = append(paths, f.Path), append(types, f.ScimType), append(details, f.Detail), append(bodies, f.Body)
			clients, ats, statuses = append(clients, f.Client), append(ats, f.At), append(statuses, int16(f.Status))
		}
	}
	b.Queue(`INSERT INTO scim_failures (org_id, at, token_id, operation, method, path, status, scim_type, detail, body, client)
		SELECT u.org_id, u.at, u.token_id, u.operation, u.method, u.path, u.status, u.scim_type, u.detail, u.body, u.client
		FROM unnest($1::uuid[], $2::timestamptz[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::smallint[], $8::text[], $9::text[], $10::text[], $11::text[])
			WITH ORDINALITY AS u(org_id, at, token_id, operation, method, path, status, scim_type, detail, body, client, n)
		WHERE EXISTS (SELECT 1 FROM scim_tokens t WHERE t.org_id = u.org_id AND t.id = u.token_id)
		ORDER BY u.n`,
		orgs, ats, tokens, ops, methods, paths, statuses, types, details, bodies, clients)
	b.Queue(`DELETE FROM scim_failures f USING (
			SELECT org_id, id, row_number() OVER (PARTITION BY org_id ORDER BY at DESC, id DESC) AS n
			FROM scim_failures WHERE org_id = ANY($1::uuid[])) x
		WHERE f.org_id = x.org_id AND f.id = x.id AND x.n > $2`, orgIDs, directory.MaxRecentFailures)
}
