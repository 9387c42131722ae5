package main

import (
	"context"
	"time"
)

// minTick is the shortest ticker period the pacer uses; above 1,000
// requests/s it issues several permits per tick instead of ticking faster.
const minTick = time.Millisecond

// tickPlan returns the ticker period for rate permits per second and how many
// permits each tick is worth (fractions carry over to the next tick).
func tickPlan(rate float64) (period time.Duration, perTick float64) {
	period = time.Duration(float64(time.Second) / rate)
	if period >= minTick {
		// One permit per tick; the period's rounding to a nanosecond must
		// not make a tick worth 0.9999999 permits.
		return period, 1
	}
	return minTick, rate * minTick.Seconds()
}

// pacer hands out the job indexes 0..n-1 of one phase to the workers that
// share it, at most rate per second (0 = as fast as the workers take them).
//
// Permits are sent on an unbuffered channel, so when every worker is busy the
// pacer waits; the ticker drops the ticks it misses meanwhile, and a slow
// server gets a lower achieved rate rather than a catch-up burst. The report's
// requests/s is the achieved rate.
type pacer struct {
	C <-chan int
	// ticks counts the ticks consumed; it is final once C is closed.
	ticks int
}

// startPacer starts the pacer's goroutine; C closes after n indexes or when
// ctx ends.
func startPacer(ctx context.Context, n int, rate float64) *pacer {
	ch := make(chan int)
	p := &pacer{C: ch}
	go func() {
		defer close(ch)
		if rate <= 0 {
			p.unpaced(ctx, ch, n)
			return
		}
		p.paced(ctx, ch, n, rate)
	}()
	return p
}

func (p *pacer) unpaced(ctx context.Context, ch chan<- int, n int) {
	for i := range n {
		if !send(ctx, ch, i) {
			return
		}
	}
}

// send hands i to a worker; false once ctx has ended, which takes precedence
// over a waiting worker.
func send(ctx context.Context, ch chan<- int, i int) bool {
	if ctx.Err() != nil {
		return false
	}
	select {
	case ch <- i:
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *pacer) paced(ctx context.Context, ch chan<- int, n int, rate float64) {
	period, perTick := tickPlan(rate)
	t := time.NewTicker(period)
	defer t.Stop()
	credit, next := 0.0, 0
	for next < n {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		p.ticks++
		// Credit never exceeds one tick's worth plus a fraction, so a
		// stalled pacer does not burst afterwards.
		credit = min(credit+perTick, perTick+1)
		for credit >= 1 && next < n {
			if !send(ctx, ch, next) {
				return
			}
			next++
			credit--
		}
	}
}
