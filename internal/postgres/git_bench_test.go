package postgres_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/pgtest"
)

// BenchmarkResolveGit answers "who triggered this run" at 100,000
// identities (half of them mapped to 20,000 users); the target is p99 ≤ 2 ms.
func BenchmarkResolveGit(b *testing.B) {
	ctx := context.Background()
	db := pgtest.DB(b)
	org, err := db.CreateOrganization(ctx, "acme", "")
	if err != nil {
		b.Fatal(err)
	}
	for _, sql := range []string{
		`INSERT INTO users (org_id, user_name, emails, attributes)
		 SELECT $1, 'user' || i || '@example.com', ARRAY['user' || i || '@example.com'], jsonb_build_object('userName', 'user' || i || '@example.com')
		 FROM generate_series(1, 20000) i`,
		`WITH u AS (SELECT id, row_number() OVER (ORDER BY seq) AS n FROM users WHERE org_id = $1 AND source = 'scim')
		 INSERT INTO git_identities (org_id, provider, email, login, name, first_seen, last_seen, commits, user_id)
		 SELECT $1, 'github', 'dev' || i || '@example.com', 'dev' || i, 'Dev ' || i, now(), now(), 1, CASE WHEN i % 2 = 0 THEN u.id END
		 FROM generate_series(1, 100000) i JOIN u ON u.n = i % 20000 + 1`,
		`ANALYZE`,
	} {
		if _, err := db.Pool.Exec(ctx, sql, orgArgs(sql, org.ID)...); err != nil {
			b.Fatal(err)
		}
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		n := (i*7919)%50000*2 + 2 // a mapped identity
		email := fmt.Sprintf("dev%d@example.com", n)
		if i%2 == 1 {
			email = ""
		}
		start := time.Now()
		if _, err := db.ResolveGit(ctx, org.ID, "github", email, fmt.Sprintf("dev%d", n)); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
}

func orgArgs(sql, orgID string) []any {
	if sql == "ANALYZE" || sql == `ANALYZE` {
		return nil
	}
	return []any{orgID}
}
