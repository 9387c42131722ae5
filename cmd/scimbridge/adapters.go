package main

import (
	"log/slog"
	"net/http"

	"github.com/scimbridge/scimbridge/internal/api"
	"github.com/scimbridge/scimbridge/internal/hooks"
	"github.com/scimbridge/scimbridge/internal/httpserver"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/internal/secretbox"
	"github.com/scimbridge/scimbridge/internal/web"
	"github.com/scimbridge/scimbridge/internal/webhooks"
	"github.com/scimbridge/scimbridge/oidc"
	"github.com/scimbridge/scimbridge/scim"
)

// mountAdapters mounts the protocol adapters on the server; it returns
// the function by which the replica heartbeat shares out their rate
// limits.
func mountAdapters(hs *httpserver.Server, db *database, box *secretbox.Box, login *oidc.Handler, usage *postgres.TokenUsage,
	health healthRecorders, cfg serveConfig, log *slog.Logger) (share func(replicas int)) {
	scimHandler := scim.New(scim.Config{
		Store:      db.DB,
		Usage:      usage,
		Health:     health,
		PublicURL:  cfg.publicURL,
		MaxBody:    cfg.maxBody,
		RatePerOrg: cfg.scimRate,
		Logger:     log,
	})
	scimHandler.Mount(hs)
	var opener hooks.Opener
	if box != nil {
		opener = box
	}
	hooks.New(db.DB, opener, log).Mount(hs)
	apiCfg := api.Config{Store: db.DB, Logger: log, MaxBody: cfg.maxBody, RatePerOrg: cfg.apiRate, PublicURL: cfg.publicURL}
	if login != nil {
		// The console calls the admin API with the login session.
		apiCfg.Authenticators = []api.Authenticator{api.SessionFunc(login.Session)}
		apiCfg.CSRF = func(r *http.Request) error { return login.CheckCSRF(r, r.PathValue("org")) }
		apiCfg.IdP = oidc.Settings{Store: db.DB, Box: box, Egress: *cfg.egress, Logger: log}
		login.Mount(hs)
	} else {
		oidc.MountOff(hs, "it has no secret key (SCIMBRIDGE_SECRET_KEY); ask its operator")
	}
	if box != nil {
		apiCfg.Subscriptions = webhooks.Subscriptions{Store: db.DB, Box: box, Egress: *cfg.egress}
	}
	apiHandler := api.New(apiCfg)
	apiHandler.Mount(hs)
	web.New().Mount(hs)
	return func(n int) {
		scimHandler.SetReplicas(n)
		apiHandler.SetReplicas(n)
	}
}
