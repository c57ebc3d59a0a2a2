// Package tenantreg is the registry of a WeCom suite's installed corps or
// an Open Platform component's authorizers, kept in the shared state store
// so that every instance of a fleet, and every restart, serves the same
// tenants.
//
// What it keeps cannot be fetched from upstream again (a corp's permanent
// code, and the list of tenants itself), so it is state, not cache, and it
// is written so that a store which loses data loses no tenant:
//
//   - One record per tenant, in one of 256 buckets (a small JSON document
//     each), with a head document that names each bucket's revision. A
//     change writes one bucket and the head: O(1) store operations, and no
//     document grows past 1/256 of the registry.
//   - Every record carries a revision (a hybrid logical clock in
//     microseconds: never below the newest revision the writer has seen,
//     so a node's clock running behind cannot order a change before one
//     it follows). The newest revision of a tenant wins, everywhere.
//   - A tenant leaves only through a tombstone (a record with removed_at),
//     written by a signed cancel_auth / unauthorized or by an operator, and
//     kept for TombstoneRetention so that a late sync cannot bring the
//     tenant back.
//   - Missing is never "removed". Each instance holds the records it has
//     seen. A head, bucket or record that vanished, does not parse, or is
//     older than what the instance holds is repaired from memory under the
//     registry's lock: the instance re-publishes what it holds, newest
//     revision winning, and says so once (Repaired in SyncResult).
//   - Instances follow the registry by reading the head (one small GET) on
//     each of the store's write notices for it and every few seconds, and
//     read only the buckets whose revision moved.
//
// Secrets are sealed with the tenant key ring (wechat.SecretBox), bound to
// the registry and the tenant: a sealed value copied to another tenant
// does not open.
package tenantreg
