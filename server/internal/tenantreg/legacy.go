package tenantreg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/wxtoken/wxtoken/core"
)

// legacyDoc is the registry as versions before 2 kept it: one document
// for every tenant, at the key the seals are still bound to.
type legacyDoc struct {
	V       int `json:"v"`
	Tenants map[string]struct {
		Name    string `json:"name"`
		Secret  string `json:"secret"`
		AddedAt int64  `json:"added_at"`
	} `json:"tenants"`
}

// migrateLegacy moves a version 1 registry into buckets, once: its
// records are written with new revisions (a record already in the
// buckets is newer and stays), and the old document is removed after.
// It reports no change when there is no old document.
func (r *Registry) migrateLegacy(ctx context.Context) (SyncResult, error) {
	raw, err := r.store.Get(ctx, r.legacyKey)
	if errors.Is(err, core.ErrNotFound) {
		return SyncResult{}, nil
	}
	if err != nil {
		return SyncResult{}, err
	}
	var doc legacyDoc
	if err := json.Unmarshal([]byte(raw), &doc); err != nil || doc.V != 1 {
		return SyncResult{}, fmt.Errorf("tenantreg: the version 1 registry %s does not parse; fix or remove it by hand", r.legacyKey)
	}
	res, err := r.update(ctx, allBuckets(), func(head *headDoc) []string {
		var ids []string
		for id, t := range doc.Tenants {
			if _, ok := r.view[bucketOf(id)][id]; ok {
				continue // the buckets already hold it
			}
			r.keep(id, Record{Rev: r.tick(head.Rev), Name: t.Name, AddedAt: t.AddedAt, Secret: t.Secret})
			ids = append(ids, id)
		}
		return ids
	})
	if err != nil {
		return res, err
	}
	if res.Changed == nil {
		res.Changed = []string{}
	}
	return res, r.store.Remove(ctx, r.legacyKey)
}
