package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimbridge/scimbridge/internal/postgres"
)

// heartbeat keeps this replica counted in PostgreSQL and tells share how
// many replicas are live, so that per-organization rate limits hold for
// the service however many replicas run. It returns when ctx ends, after
// removing the replica's row.
func heartbeat(ctx context.Context, db *database, share func(int), reg prometheus.Registerer, log *slog.Logger) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80 // a version 4 UUID
	id := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
	live := prometheus.NewGauge(prometheus.GaugeOpts{Name: "scimbridge_replicas_live",
		Help: "Replicas sharing this database, by the last heartbeat (per-organization rate limits are divided by it)."})
	reg.MustRegister(live)
	beat := func() {
		n, err := db.Heartbeat(ctx, id)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("replica heartbeat", "err", err)
			}
			return
		}
		live.Set(float64(n))
		share(n)
	}
	beat()
	t := time.NewTicker(postgres.ReplicaTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := db.RemoveReplica(rctx, id); err != nil {
				log.Warn("remove replica", "err", err)
			}
			return
		case <-t.C:
			beat()
		}
	}
}
