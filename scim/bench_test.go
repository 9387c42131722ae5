package scim_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// seedUsers creates n users directly through the store.
func seedUsers(b testing.TB, tn *tenant, n int) []string {
	b.Helper()
	ids := make([]string, n)
	for i := range n {
		name := fmt.Sprintf("bench-%06d@example.com", i)
		u, err := tn.db.CreateUser(context.Background(), directory.Actor{Kind: "test", Name: "seed"}, directory.User{
			OrgID: tn.orgID, ExternalID: fmt.Sprintf("ext-%06d", i),
			Attributes: map[string]any{"userName": name, "active": true, "name": map[string]any{"givenName": "G", "familyName": "F"},
				"emails": []any{map[string]any{"value": name, "type": "work", "primary": true}}},
		})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = u.ID
	}
	return ids
}

// BenchmarkListPage measures a page of 100 users with an exact totalResults.
func BenchmarkListPage(b *testing.B) {
	tn := setup(b)
	seedUsers(b, tn, 5000)
	if _, err := tn.db.Pool.Exec(context.Background(), "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		tn.must(200, "GET", fmt.Sprintf("/Users?startIndex=%d&count=100", 1+(i*97)%4900), nil)
	}
}

// BenchmarkLookupUserName measures Okta's lookup before each create.
func BenchmarkLookupUserName(b *testing.B) {
	tn := setup(b)
	seedUsers(b, tn, 5000)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		tn.must(200, "GET", "/Users?filter="+urlq(fmt.Sprintf(`userName eq "bench-%06d@example.com"`, i%5000))+"&startIndex=1&count=100", nil)
	}
}

// BenchmarkPushPair is one step of an Okta initial push: the userName
// lookup, then the create.
func BenchmarkPushPair(b *testing.B) {
	tn := setup(b)
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("push-%07d@example.com", i)
		tn.must(200, "GET", "/Users?filter="+urlq(fmt.Sprintf(`userName eq "%s"`, name))+"&startIndex=1&count=100", nil)
		tn.must(201, "POST", "/Users", map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": name, "externalId": fmt.Sprintf("00u%07d", i),
			"name": map[string]any{"givenName": "Given", "familyName": "Family"}, "password": "Secret-123",
			"emails": []any{map[string]any{"value": name, "type": "work", "primary": true}}, "active": true, "groups": []any{},
		})
	}
}
