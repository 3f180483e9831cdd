package demo

import "time"

// Clock is the demo's simulated time. It reads Start at the real time Began
// and runs 24h/Day times faster than real time, so that a simulated day
// lasts Day. The fleet follows its time of day, and the forecasts run on
// it: to the predictor a 10-minute demo day is a day of 1,440 minutes with
// its rush hours, which it can learn and forecast like a real one.
type Clock struct {
	Began time.Time     // real
	Start time.Time     // simulated, at Began
	Day   time.Duration // real time a simulated day lasts
}

func (c Clock) speed() float64 { return float64(24*time.Hour) / float64(c.Day) }

// At is the simulated time at the real time t.
func (c Clock) At(t time.Time) time.Time {
	return c.Start.Add(time.Duration(float64(t.Sub(c.Began)) * c.speed()))
}

// Now is the simulated time now.
func (c Clock) Now() time.Time { return c.At(time.Now()) }

// After waits d of simulated time, as time.After waits real time (and
// sends the real time).
func (c Clock) After(d time.Duration) <-chan time.Time {
	return time.After(time.Duration(float64(d) / c.speed()))
}

// TimeOfDay is the simulated time of day at the real time t.
func (c Clock) TimeOfDay(t time.Time) time.Duration { return timeOfDay(c.At(t)) }

// timeOfDay is how long after midnight UTC t is.
func timeOfDay(t time.Time) time.Duration { return t.Sub(t.Truncate(24 * time.Hour)) }
