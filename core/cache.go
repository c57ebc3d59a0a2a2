package core

import (
	contract "github.com/wxtoken/wxtoken/store"
)

// ErrNotFound is store.ErrNotFound: Cache.Get found no value.
var ErrNotFound = contract.ErrNotFound

// Cache is store.Cache, the store shared by every node of a fleet. The
// contract lives in package store; this alias is kept for a release.
type Cache = contract.Cache
