package main

// The binary carries Mozilla's root certificates (through x/crypto's
// fallback bundle), used only where the system has none: an image built
// FROM scratch still verifies api.weixin.qq.com's certificate. A system
// pool, or SSL_CERT_FILE / SSL_CERT_DIR, wins when present.
import _ "golang.org/x/crypto/x509roots/fallback"
