package fleet_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/internal/fleet"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// A small fleet through a few token lifetimes with DriveFleet, on the
// in-memory store: four nodes, each with its
// own Manager, share one store against a simulator whose tokens live two
// seconds and are renewed half a second before expiry. Every business call
// succeeds, and upstream is asked once per renewal cycle, never more.
func ExampleDriveFleet() {
	const lifetime = 2 * time.Second
	sim := wxsim.NewServer(wxsim.WithLifetime(lifetime), wxsim.WithOverlap(lifetime/4))
	defer sim.Close()
	sim.AddApp("wxexample0000001", "app-secret")

	var store fleet.Backend = core.NewMemoryCache()
	var nodes []*core.Manager
	for range 4 {
		m := core.New(core.WithCache(store), core.WithSettings(core.Settings{RefreshAhead: lifetime / 4, LocalTTL: lifetime / 8}))
		defer m.Close()
		if err := m.Register("shop", wechat.OfficialAccount("wxexample0000001", "app-secret", wechat.WithBaseURL(sim.URL))); err != nil {
			log.Fatal(err)
		}
		nodes = append(nodes, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*lifetime)
	defer cancel()
	report := fleet.DriveFleet(ctx, nodes, "shop", 4, sim.URL)

	calls := sim.Stats().TokenCalls()
	cycles := int(3 * lifetime / (lifetime - lifetime/4)) // renewals in the run
	fmt.Println("business calls made:", report.Checks > 0)
	fmt.Println("refused:", report.Refused, "token errors:", report.TokenErrors)
	fmt.Println("upstream calls at most one per cycle:", calls >= 1 && calls <= 1+cycles)
	// Output:
	// business calls made: true
	// refused: 0 token errors: 0
	// upstream calls at most one per cycle: true
}
