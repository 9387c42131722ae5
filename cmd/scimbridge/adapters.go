package main

import (
	"log/slog"

	"github.com/scimbridge/scimbridge/internal/httpserver"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/scim"
)

// mountAdapters mounts the protocol adapters on the server.
func mountAdapters(hs *httpserver.Server, db *database, usage *postgres.TokenUsage, cfg serveConfig, log *slog.Logger) {
	scim.New(scim.Config{
		Store:      db.DB,
		Usage:      usage,
		PublicURL:  cfg.publicURL,
		MaxBody:    cfg.maxBody,
		RatePerOrg: cfg.scimRate,
		Logger:     log,
	}).Mount(hs)
}
