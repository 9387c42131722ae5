package postgres_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/pgtest"
)

// Saving settings without a secret keeps the stored one only for the same
// client at the same issuer: the secret must never reach another
// provider's token endpoint.
func TestStoredClientSecretStaysWithItsIssuerAndClient(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	ctx := context.Background()
	o, err := db.CreateOrganization(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	actor := directory.Actor{Kind: "test", Name: "t"}
	sealed := []byte("sealed-secret")
	save := func(issuer, client string, secret []byte) []byte {
		t.Helper()
		s, err := db.SetIdPSettings(ctx, actor, directory.IdPSettings{OrgID: o.ID, Issuer: issuer, ClientID: client, ClientSecretSealed: secret,
			JIT: directory.JITPolicy{Mode: directory.JITSCIMOnly}})
		if err != nil {
			t.Fatal(err)
		}
		return s.ClientSecretSealed
	}
	steps := []struct {
		name           string
		issuer, client string
		secret         []byte
		want           []byte
	}{
		{"set with a secret", "https://idp.example", "c1", sealed, sealed},
		{"the same client without one keeps it", "https://idp.example", "c1", nil, sealed},
		{"another issuer without one drops it", "https://evil.example", "c1", nil, nil},
		{"back, it stays dropped", "https://idp.example", "c1", nil, nil},
		{"a new secret", "https://idp.example", "c1", []byte("second"), []byte("second")},
		{"another client id without one drops it", "https://idp.example", "c2", nil, nil},
	}
	for _, s := range steps {
		if got := save(s.issuer, s.client, s.secret); !bytes.Equal(got, s.want) {
			t.Fatalf("%s: %q, want %q", s.name, got, s.want)
		}
	}
}
