package sync

import (
	"context"
	"time"
)

// ScheduleNext is the next time of a spec as Start reads it, after t.
func ScheduleNext(spec string, t time.Time) (time.Time, error) {
	s, err := parseSchedule(spec)
	if err != nil {
		return time.Time{}, err
	}
	return s.Next(t), nil
}

// StartOn is Start on a schedule whose next time after t is next(t).
func (r *Reconciler) StartOn(ctx context.Context, next func(time.Time) time.Time) (stop func()) {
	return r.startOn(ctx, scheduleFunc(next))
}

type scheduleFunc func(time.Time) time.Time

func (f scheduleFunc) Next(t time.Time) time.Time { return f(t) }
