package main

import (
	"log/slog"

	"github.com/scimbridge/scimbridge/internal/api"
	"github.com/scimbridge/scimbridge/internal/hooks"
	"github.com/scimbridge/scimbridge/internal/httpserver"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/internal/secretbox"
	"github.com/scimbridge/scimbridge/scim"
)

// mountAdapters mounts the protocol adapters on the server.
func mountAdapters(hs *httpserver.Server, db *database, box *secretbox.Box, usage *postgres.TokenUsage, cfg serveConfig, log *slog.Logger) {
	scim.New(scim.Config{
		Store:      db.DB,
		Usage:      usage,
		PublicURL:  cfg.publicURL,
		MaxBody:    cfg.maxBody,
		RatePerOrg: cfg.scimRate,
		Logger:     log,
	}).Mount(hs)
	var opener hooks.Opener
	if box != nil {
		opener = box
	}
	hooks.New(db.DB, opener, log).Mount(hs)
	api.New(api.Config{Store: db.DB, Logger: log, MaxBody: cfg.maxBody}).Mount(hs)
}
