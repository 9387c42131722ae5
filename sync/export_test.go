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

// StartOn is Start on a schedule whose next time after t is next(t), and
// whose ticks are as long as a five-minute schedule's.
func (r *Reconciler) StartOn(ctx context.Context, next func(time.Time) time.Time) (stop func()) {
	return r.startOn(ctx, scheduleFunc(next), func(time.Time) time.Duration { return maxTickSkew })
}

// TickWindow is tickWindow of spec at now.
func TickWindow(spec string, now time.Time) (time.Duration, error) {
	s, err := parseSchedule(spec)
	if err != nil {
		return 0, err
	}
	return tickWindow(s, now), nil
}

type scheduleFunc func(time.Time) time.Time

func (f scheduleFunc) Next(t time.Time) time.Time { return f(t) }
