// Package beijing names the time zone WeChat's daily quotas reset in
// (China Standard Time, UTC+8, no daylight saving), so every count kept
// "per day" in this repository — the Manager's invalidation ledger,
// stable_token's force_refresh count, the simulator's quotas and the
// server's metrics — agrees on when a day starts.
package beijing

import "time"

// Location is UTC+8, fixed: it needs no time zone database.
var Location = time.FixedZone("CST", 8*3600)

// Day returns t's calendar day in Beijing, as "2006-01-02".
func Day(t time.Time) string { return t.In(Location).Format(time.DateOnly) }
