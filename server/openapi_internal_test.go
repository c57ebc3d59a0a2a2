package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

// The API document lists exactly the routes the server serves, each with
// its method, and every response it names is defined.
func TestOpenAPIMatchesTheRoutes(t *testing.T) {
	t.Setenv("OPENAPI_TEST_SECRET", "x")
	cfg := Config{Listen: "127.0.0.1:0", InsecureNoAuth: true,
		Apps: []AppConfig{{ID: "a", Kind: KindOfficial, AppID: "wxa", SecretEnv: "OPENAPI_TEST_SECRET"}}}
	s, err := New(cfg, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json: %v (version %q)", err, doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	var served []string
	for _, p := range s.patterns {
		served = append(served, strings.Replace(p, "/{$}", "/", 1))
	}
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Fatalf("openapi.json documents\n  %v\nthe server serves\n  %v", documented, served)
	}
	var whole struct {
		Components map[string]map[string]json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI(), &whole); err != nil {
		t.Fatal(err)
	}
	for _, ref := range strings.Split(string(OpenAPI()), `"$ref": "#/components/`)[1:] {
		name := ref[:strings.Index(ref, `"`)]
		kind, key, _ := strings.Cut(name, "/")
		if _, ok := whole.Components[kind][key]; !ok {
			t.Errorf("openapi.json refers to #/components/%s, which it does not define", name)
		}
	}
}
