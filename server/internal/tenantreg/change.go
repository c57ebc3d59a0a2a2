package tenantreg

import (
	"context"
	"errors"
	"time"
)

// Put adds a tenant, or replaces its record (a corp that installed
// again): name and secret (sealed here; "" for none) under a revision
// newer than any this instance has seen of it. The record is in this
// instance's memory before the store is asked anything, so that if the
// lock or the store fails (the caller sees the error), this instance
// still serves the tenant and its next sync writes the record.
func (r *Registry) Put(ctx context.Context, id, name, secret string) (SyncResult, error) {
	return r.PutAuthorized(ctx, id, name, secret, time.Time{})
}

// PutAuthorized is Put for a tenant added by a signed push stamped at (by
// upstream's clock; zero when unknown): the record keeps it, so that a
// removal pushed before it (a captured cancel_auth replayed after the
// corp installed again) can be told apart and ignored (see
// Record.AuthorizedAt).
func (r *Registry) PutAuthorized(ctx context.Context, id, name, secret string, at time.Time) (SyncResult, error) {
	if id == "" {
		return SyncResult{}, errors.New("tenantreg: empty tenant id")
	}
	rec := Record{Name: name, AddedAt: r.now().Unix()}
	if !at.IsZero() {
		rec.AuthorizedAt = at.Unix()
	}
	if secret != "" {
		rec.Secret = r.box.Seal(r.sealName(id), []byte(secret))
	}
	return r.change(ctx, id, rec)
}

// Remove records that a tenant left (a signed cancel_auth or
// unauthorized, or an operator): a tombstone newer than any record of it
// this instance has seen, so that no later sync, and no instance's
// memory, brings it back. Removing a tenant never seen still writes the
// tombstone. Like Put, it is in memory before the store is asked.
func (r *Registry) Remove(ctx context.Context, id string) (SyncResult, error) {
	if id == "" {
		return SyncResult{}, errors.New("tenantreg: empty tenant id")
	}
	return r.change(ctx, id, Record{RemovedAt: r.now().Unix()})
}

// change keeps rec as id's newest record in memory at once (its bucket
// marked for repair), then writes it under the lock with a revision above
// everything the store held: the change follows what it read there,
// whatever the clocks say. A later change of id in this process, made
// meanwhile, supersedes it.
func (r *Registry) change(ctx context.Context, id string, rec Record) (SyncResult, error) {
	b := bucketOf(id)
	r.mu.Lock()
	rec.Rev = r.tick(0)
	r.keep(id, rec)
	r.dirty[b] = true
	mine := rec.Rev
	r.pending[id] = mine
	r.mu.Unlock()
	res, err := r.update(ctx, []int{b}, func(head *headDoc) []string {
		if r.pending[id] == mine {
			delete(r.pending, id)
			rec.Rev = r.tick(head.Rev)
			r.keep(id, rec)
		}
		return []string{id}
	})
	r.mu.Lock()
	if r.pending[id] == mine {
		delete(r.pending, id) // the store failed: the next sync writes what memory holds
	}
	r.mu.Unlock()
	if err != nil {
		res.Changed = append(res.Changed, id) // served from memory meanwhile
	}
	return res, err
}
