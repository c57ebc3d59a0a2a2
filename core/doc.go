// Package core keeps WeChat and WeCom credentials alive for a fleet of
// application instances: one node refreshes a token ahead of expiry, every
// node reads it from a shared Cache, and a node that sees 40001 or 42001
// triggers one refresh for the whole fleet instead of a storm.
//
// # Use
//
//	m := core.New(core.WithCache(redisbackend.New(rdb)))
//	m.Register("shop", wechat.OfficialAccount(appID, secret))
//	go m.Run(ctx)                          // proactive refresh, optional
//	tok, err := m.Token(ctx, "shop")       // tok.Value is the access_token
//	tok, err = m.Invalidate(ctx, "shop", tok.Value) // after a 40001/40014/42001
//
// # Lifecycle
//
// Each credential is judged on every read, with the time from the Clock:
//
//   - fresh: more than refresh-ahead before expiry. Served from memory.
//   - stale: within refresh-ahead of expiry. Served, and one refresh runs in
//     the background (one per process by singleflight, one per fleet by the
//     lock).
//   - unusable: missing, or within the expiry margin. Callers wait for a
//     refresh, bounded by their context.
//
// The margins are capped relative to the lifetime the token actually got:
// refresh-ahead at most half of it, the expiry margin at most a tenth. A
// token's stale phase starts at a point spread over the refresh-ahead
// window by its value (at most 80% into it), so tokens fetched together
// are not refreshed together. A token in use is re-read from the shared
// Cache in the background at most every local TTL (default 30 s, well
// under the 5 minutes WeChat keeps a replaced token alive), and one not
// confirmed for two local TTLs is read before it is served, so no node
// serves a replaced token for long, and an idle one costs nothing.
//
// A refresh adopts a token another node already published when there is
// one; otherwise it takes the fleet lock, reads the shared Cache again (the
// previous holder may just have published), fetches from the Source,
// writes the Cache while the lease still holds (FencedLease) and releases
// the lock. The holder extends its lease while it works. A node that finds
// the lock taken serves its token while it is usable (adopting the new one
// at its next re-check); a node with nothing to serve waits for the new
// token instead of calling upstream: on a Cache that is a Watcher it sleeps
// until the token is written, otherwise it polls.
//
// Invalidate, the passive refresh, asks upstream whether a reported token
// is really dead (Verifier) before replacing it, and counts the fetches it
// causes against a fleet-wide daily budget (Settings.InvalidateBudget).
//
// # Keys
//
// A credential is stored under PREFIX:{IDENTITY} and locked under
// PREFIX:lock:{IDENTITY}, where the identity names the upstream account
// ("token:wx123" for /cgi-bin/token, "stable:wx123", "wecom:ww456:1000002",
// "jsapi@token:wx123" for a ticket) and never a secret, and the braces are
// literal: a Redis Cluster hash tag, so value, lock and bookkeeping
// (PREFIX:state:{IDENTITY}:...) share a slot. The prefix defaults to
// "wxtoken".
//
// # Cache format
//
// The value is a small JSON document that programs in any language can read:
//
//	{"v":1,"access_token":"ACCESS_TOKEN","expires_at":1764000000.123,"issued_at":1763992800,"gen":42}
//
// Its fields:
//
//   - v: format version, 1. Later versions keep these fields.
//   - access_token: the credential (an access_token or a ticket).
//   - expires_at: when upstream stops accepting it, in Unix seconds; a
//     fractional part, when present, carries milliseconds.
//   - issued_at: when it was fetched, in Unix seconds (optional).
//   - gen: the token's generation (optional; absent reads as 0). Tokens
//     published under the fleet lock are numbered one past the newest the
//     publisher knew of; a higher generation is newer, whatever any clock
//     says.
//   - renew_at: the earliest time a live-token upstream hands out another
//     token, in Unix seconds (optional); no node asks sooner.
//
// The cache entry's own TTL is the token's remaining lifetime. A value that
// does not parse is treated as a miss, logged, and overwritten.
//
// # Failures
//
// Transient upstream errors (errcode -1, HTTP 5xx, timeouts) are retried
// with capped, jittered backoff; permanent ones (a wrong secret, a daily
// quota) are returned at once and held for Settings.ErrorHold, twice as
// long for each one in a row up to 10 minutes, so they do not turn into a
// storm; such a failure is logged at warn once, then again when it changes
// or after 5 minutes. Successful fetches and replaced reported tokens are
// logged at info. A token fetched while the Cache refuses writes is kept
// in memory and written at the next re-check. While the shared store is
// down, nodes serve their in-memory token while it is usable and then fall
// back to fetching without the fleet lock, at most once per degraded
// interval.
package core
