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

// readLegacy reads a version 1 registry; nil when there is none.
func (r *Registry) readLegacy(ctx context.Context) (*legacyDoc, error) {
	raw, err := r.store.Get(ctx, r.legacyKey)
	if errors.Is(err, core.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var doc legacyDoc
	if err := json.Unmarshal([]byte(raw), &doc); err != nil || doc.V != 1 {
		return nil, fmt.Errorf("tenantreg: the version 1 registry %s does not parse; fix or remove it by hand", r.legacyKey)
	}
	return &doc, nil
}

// mergeLegacy takes the records of a version 1 registry into memory with
// new revisions, where memory holds none of the tenant (the buckets'
// records are newer), and returns their ids. Called under the lock, with
// r.mu held, when the store has no head: the first write of a version 2
// registry, whichever comes first (a sync, an install), migrates it.
func (r *Registry) mergeLegacy(doc *legacyDoc, head *headDoc) []string {
	var ids []string
	for id, t := range doc.Tenants {
		if id == "" {
			continue
		}
		if _, ok := r.view[bucketOf(id)][id]; ok {
			continue
		}
		r.keep(id, Record{Rev: r.tick(head.Rev), Name: t.Name, AddedAt: t.AddedAt, Secret: t.Secret})
		ids = append(ids, id)
	}
	return ids
}
