package fleet

import (
	"testing"
	"time"
)

// CheckRefreshes asserts that a farm whose nodes refresh 3/8 of lifetime
// ahead (as TestFarm's and RunNode's do) fetched once per refresh cycle:
// no fetch came sooner than a cycle after the previous one (one such fetch
// is tolerated with allowExtra, for a store whose lease can legitimately
// time out under load, and logged), and the fleet refreshed ahead of each
// of expiries lifetimes. issues are the fetch times, as wxsim.Issues
// gives them.
func CheckRefreshes(t testing.TB, issues []time.Time, lifetime time.Duration, expiries int, allowExtra bool) {
	t.Helper()
	cycle := lifetime - lifetime*3/8
	var gaps []string
	extra := 0
	for i := 1; i < len(issues); i++ {
		gap := issues[i].Sub(issues[i-1])
		gaps = append(gaps, gap.Round(10*time.Millisecond).String())
		if gap < cycle-300*time.Millisecond {
			extra++
		}
	}
	t.Logf("upstream fetches: %d, gaps %v (refresh cycle %v)", len(issues), gaps, cycle)
	if len(issues) < expiries+1 {
		t.Errorf("rule: the fleet refreshes ahead of every expiry; %d fetches over %d lifetimes", len(issues), expiries)
	}
	switch {
	case extra == 0:
	case extra == 1 && allowExtra:
		t.Logf("one extra fetch, allowed for this store: a refresh lease timed out under load and another node refreshed")
	default:
		t.Errorf("rule: exactly one upstream call per expiry for the whole fleet; %d fetches came sooner than a refresh cycle (%v) after the previous one", extra, cycle)
	}
}
