package callback

// EncryptWithPrefix is Encrypt with a given random prefix, for vectors.
func EncryptWithPrefix(c *Crypto, random [16]byte, msg []byte) string { return c.encrypt(random, msg) }
