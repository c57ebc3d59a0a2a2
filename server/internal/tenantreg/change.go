package tenantreg

import (
	"context"
	"errors"
)

// Put adds a tenant, or replaces its record (a corp that installed
// again): name and secret (sealed here; "" for none) under a revision
// newer than any this instance has seen of it. The record is in this
// instance's memory before it is written, so that if the write fails the
// next sync re-publishes it.
func (r *Registry) Put(ctx context.Context, id, name, secret string) (SyncResult, error) {
	if id == "" {
		return SyncResult{}, errors.New("tenantreg: empty tenant id")
	}
	return r.update(ctx, []int{bucketOf(id)}, func(head *headDoc) []string {
		rec := Record{Rev: r.tick(head.Rev), Name: name, AddedAt: r.now().Unix()}
		if secret != "" {
			rec.Secret = r.box.Seal(r.sealName(id), []byte(secret))
		}
		r.keep(id, rec)
		return []string{id}
	})
}

// Remove records that a tenant left (a signed cancel_auth or
// unauthorized, or an operator): a tombstone newer than any record of it
// this instance has seen, so that no later sync, and no instance's
// memory, brings it back. Removing a tenant never seen still writes the
// tombstone.
func (r *Registry) Remove(ctx context.Context, id string) (SyncResult, error) {
	if id == "" {
		return SyncResult{}, errors.New("tenantreg: empty tenant id")
	}
	return r.update(ctx, []int{bucketOf(id)}, func(head *headDoc) []string {
		r.keep(id, Record{Rev: r.tick(head.Rev), RemovedAt: r.now().Unix()})
		return []string{id}
	})
}
