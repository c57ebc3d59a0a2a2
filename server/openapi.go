package server

import (
	_ "embed"
	"net/http"
)

// openAPI describes the HTTP API (OpenAPI 3); a test keeps it in step with
// the routes served.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3 document of the server's HTTP API, as
// GET /v1/openapi.json serves it.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

func handleOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}
