package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

const idpColumns = `org_id, issuer, client_id, client_secret_sealed, scopes, email_claim, name_claim, groups_claim, oid_claim,
	jit_policy, jit_domains, updated_at`

func scanIdPSettings(row pgx.Row) (directory.IdPSettings, error) {
	var s directory.IdPSettings
	err := row.Scan(&s.OrgID, &s.Issuer, &s.ClientID, &s.ClientSecretSealed, &s.Scopes, &s.EmailClaim, &s.NameClaim, &s.GroupsClaim,
		&s.OIDClaim, &s.JIT.Mode, &s.JIT.Domains, &s.UpdatedAt)
	return s, err
}

// SetIdPSettings stores (replacing) an organization's OpenID Provider. The
// client secret comes sealed (the caller seals it with secretbox, bound to
// the organization); a nil secret keeps the one stored. The audit event
// records the settings but never the secret, sealed or not.
// ErrInvalid: bad settings.
func (db *DB) SetIdPSettings(ctx context.Context, actor directory.Actor, s directory.IdPSettings) (directory.IdPSettings, error) {
	if err := s.Normalize(); err != nil {
		return directory.IdPSettings{}, err
	}
	var out directory.IdPSettings
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanIdPSettings(tx.QueryRow(ctx, `INSERT INTO idp_settings AS s (org_id, issuer, client_id, client_secret_sealed, scopes,
				email_claim, name_claim, groups_claim, oid_claim, jit_policy, jit_domains)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (org_id) DO UPDATE SET issuer = EXCLUDED.issuer, client_id = EXCLUDED.client_id,
				-- An empty secret keeps the stored one only for the same
				-- client at the same issuer: the stored secret must never
				-- go to another provider's token endpoint.
				client_secret_sealed = CASE WHEN EXCLUDED.client_secret_sealed IS NOT NULL THEN EXCLUDED.client_secret_sealed
					WHEN s.issuer = EXCLUDED.issuer AND s.client_id = EXCLUDED.client_id THEN s.client_secret_sealed END,
				scopes = EXCLUDED.scopes,
				email_claim = EXCLUDED.email_claim, name_claim = EXCLUDED.name_claim, groups_claim = EXCLUDED.groups_claim,
				oid_claim = EXCLUDED.oid_claim, jit_policy = EXCLUDED.jit_policy, jit_domains = EXCLUDED.jit_domains, updated_at = now()
			RETURNING `+idpColumns,
			s.OrgID, s.Issuer, s.ClientID, s.ClientSecretSealed, s.Scopes, s.EmailClaim, s.NameClaim, s.GroupsClaim, s.OIDClaim,
			s.JIT.Mode, s.JIT.Domains))
		if err != nil {
			return mapErr(err, "IdP settings")
		}
		return audit(ctx, tx, s.OrgID, actor, "idp.set", "IdPSettings", s.OrgID, nil, map[string]any{
			"issuer": out.Issuer, "clientId": out.ClientID, "clientSecretChanged": s.ClientSecretSealed != nil, "scopes": out.Scopes,
			"emailClaim": out.EmailClaim, "nameClaim": out.NameClaim, "groupsClaim": out.GroupsClaim, "oidClaim": out.OIDClaim,
			"jitPolicy": out.JIT.Mode, "jitDomains": out.JIT.Domains,
		})
	})
	return out, err
}

// IdPSettings returns an organization's OpenID Provider, its client secret
// still sealed. ErrNotFound: none configured.
func (db *DB) IdPSettings(ctx context.Context, orgID string) (directory.IdPSettings, error) {
	s, err := scanIdPSettings(db.Pool.QueryRow(ctx, `SELECT `+idpColumns+` FROM idp_settings WHERE org_id = $1`, orgID))
	if errors.Is(err, pgx.ErrNoRows) {
		return s, directory.NotFoundf("the organization has no identity provider configured")
	}
	return s, err
}
