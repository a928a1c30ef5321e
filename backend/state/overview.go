package state

import (
	"context"
	"time"

	"github.com/outpost-panel/outpost/backend/store"
)

// TrafficPoint is the traffic of one hour or one day (UTC), starting At.
type TrafficPoint struct {
	At               time.Time
	Uplink, Downlink int64
}

// TrafficOverview is every node's traffic over three spans: today per hour
// (from 00:00 UTC to the current hour), the last 7 and the last 30 days per
// day (today last). Spans without traffic are zeros, so a chart needs no
// gaps filled.
type TrafficOverview struct {
	Today, Week, Month []TrafficPoint
}

// TrafficOverview reads the 30 days of hourly buckets in one aggregate
// query and folds them into the three spans.
func (s *State) TrafficOverview(ctx context.Context) (TrafficOverview, error) {
	now := s.now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	monthStart := today.AddDate(0, 0, -29)
	var hours []store.HourTraffic
	err := s.store.Read(ctx, func(tx *store.Tx) error {
		var err error
		hours, err = tx.TrafficByHour(monthStart)
		return err
	})
	if err != nil {
		return TrafficOverview{}, err
	}
	var o TrafficOverview
	for h := today; !h.After(now); h = h.Add(time.Hour) {
		o.Today = append(o.Today, TrafficPoint{At: h})
	}
	for d := range 30 {
		o.Month = append(o.Month, TrafficPoint{At: monthStart.AddDate(0, 0, d)})
	}
	for _, h := range hours {
		if i := int(h.Hour.Sub(today) / time.Hour); i >= 0 && i < len(o.Today) {
			o.Today[i].Uplink += h.Uplink
			o.Today[i].Downlink += h.Downlink
		}
		if d := int(h.Hour.Sub(monthStart) / (24 * time.Hour)); d >= 0 && d < len(o.Month) {
			o.Month[d].Uplink += h.Uplink
			o.Month[d].Downlink += h.Downlink
		}
	}
	o.Week = append([]TrafficPoint(nil), o.Month[len(o.Month)-7:]...)
	return o, nil
}
