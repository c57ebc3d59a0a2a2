package core

// Hooks for the external tests of this package; not part of the API.

// MemoryLen reports how many entries c holds, expired ones not yet swept
// included.
func MemoryLen(c *MemoryCache) int { return c.len() }

// MemorySweep drops c's expired entries now.
func MemorySweep(c *MemoryCache) { c.sweep() }

// RegisteredKeys returns m's registered keys, in no particular order.
func RegisteredKeys(m *Manager) []string { return m.names.keys() }
