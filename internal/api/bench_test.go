package api_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// BenchmarkAuthorize measures POST /authorize over real HTTP and
// PostgreSQL for a user in 20 groups, in an organization with 200
// bindings (group and user bindings over 20 workspaces). The issue's
// target is p99 ≤ 2 ms.
func BenchmarkAuthorize(b *testing.B) {
	var (
		mu     sync.Mutex
		served []time.Duration // time in the server, without the client and the loopback
	)
	timing := withMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			next.ServeHTTP(w, r)
			mu.Lock()
			served = append(served, time.Since(start))
			mu.Unlock()
		})
	})
	tn, bodies := authorizeOrg(b, timing)
	path := tn.url("/authorize")
	for _, body := range bodies { // warm the pool and the plans
		if r := tn.send(tn.token, "POST", path, body); r.status != 200 {
			b.Fatalf("%d %s", r.status, r.body)
		}
	}

	var took []time.Duration
	mu.Lock()
	served = served[:0]
	mu.Unlock()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		r := tn.send(tn.token, "POST", path, bodies[i%len(bodies)])
		took = append(took, time.Since(start))
		if r.status != 200 {
			b.Fatalf("%d %s", r.status, r.body)
		}
	}
	b.StopTimer()
	at := func(ds []time.Duration, q float64) float64 {
		slices.Sort(ds)
		return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(took, 0.50), "p50-ms")
	b.ReportMetric(at(took, 0.99), "p99-ms")
	mu.Lock()
	b.ReportMetric(at(served, 0.50), "server-p50-ms")
	b.ReportMetric(at(served, 0.99), "server-p99-ms")
	mu.Unlock()
}

// authorizeOrg builds the benchmark's organization and the bodies of its
// requests: the user asked about in turn on each workspace.
func authorizeOrg(b testing.TB, opts ...envOption) (*tenant, [][]byte) {
	tn := newEnv(b, opts...).tenant("acme")
	ctx := context.Background()
	for i := range 20 {
		tn.workspace(fmt.Sprintf("ws-%02d", i), fmt.Sprintf("cluster-%02d", i), "ns")
	}
	user := tn.scimUser("bench@acme.test")
	others := make([]directory.User, 80)
	for i := range others {
		others[i] = tn.scimUser(fmt.Sprintf("other-%02d@acme.test", i))
	}
	for i := range 40 {
		members := []directory.User{others[i]}
		if i < 20 {
			members = append(members, user) // the user is in groups 0-19
		}
		tn.group(fmt.Sprintf("group-%02d", i), members...)
	}
	roles := []directory.Role{directory.RoleViewer, directory.RoleRunner, directory.RoleEditor, directory.RoleWorkspaceAdmin}
	wss, err := tn.db.Workspaces(ctx, tn.id)
	if err != nil {
		b.Fatal(err)
	}
	bind := func(bd directory.Binding) {
		bd.OrgID = tn.id
		if _, err := tn.db.CreateBinding(ctx, seed, bd); err != nil {
			b.Fatal(err)
		}
	}
	// 100 group bindings: every group on five workspaces, by displayName
	// or externalId.
	for g := range 40 {
		for k := range 5 {
			if g*5+k >= 100 {
				break
			}
			match, value := directory.MatchGroupDisplayName, fmt.Sprintf("group-%02d", g)
			if k%2 == 1 {
				match, value = directory.MatchGroupExternalID, "ext-"+value
			}
			bind(directory.Binding{Role: roles[(g+k)%4], WorkspaceID: wss[(g*3+k)%20].ID, GroupMatch: match, GroupValue: value})
		}
	}
	// 100 user bindings: 20 to the user, 80 to others (the break-glass
	// owner's org-admin binding makes 201).
	for i := range 20 {
		bind(directory.Binding{Role: roles[i%4], WorkspaceID: wss[i].ID, UserID: user.ID})
	}
	for i, o := range others {
		bind(directory.Binding{Role: roles[i%4], WorkspaceID: wss[i%20].ID, UserID: o.ID})
	}
	if _, err := tn.db.Pool.Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	bodies := make([][]byte, 20)
	for i := range bodies {
		bodies[i] = fmt.Appendf(nil, `{"user": "bench@acme.test", "action": "pipes.run", "workspace": "ws-%02d"}`, i)
	}
	return tn, bodies
}
