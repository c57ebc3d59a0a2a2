package server_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/wxtoken/wxtoken/server"
)

// The Grafana dashboard (docs/grafana-dashboard.json) is a dashboard
// document whose every query parses as PromQL (promtool, with Grafana's
// variables given values) and names only metrics the server exports.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title, UID string
		Panels     []struct {
			ID         int
			Title      string
			Type       string
			GridPos    struct{ X, Y, W, H int } `json:"gridPos"`
			Targets    []struct{ Expr, RefID string }
			Datasource struct{ UID string }
		}
		Templating struct {
			List []struct{ Name string }
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("docs/grafana-dashboard.json: %v", err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) < 10 {
		t.Fatalf("a dashboard needs a title, a uid and its panels: %q %q, %d panels", d.Title, d.UID, len(d.Panels))
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	if !vars["datasource"] || !vars["app"] {
		t.Errorf("variables %v: want datasource and app", vars)
	}
	names := server.MetricNames()
	if !names["wxtoken_app_healthy"] || !names["wxtoken_lock_wait_seconds"] {
		t.Fatalf("server.MetricNames misses metrics: %v", names)
	}
	for _, name := range regexp.MustCompile(`wxtoken_[a-z_]+`).FindAllString(string(raw), -1) {
		base := regexp.MustCompile(`_(bucket|sum|count)$`).ReplaceAllString(name, "")
		if !names[name] && !names[base] {
			t.Errorf("docs/grafana-dashboard.json uses %s, which the server does not export", name)
		}
	}

	// Every query as a recording rule: promtool checks the PromQL.
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] || p.Title == "" || p.GridPos.W == 0 || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %d %q: wants a unique id, a title, a place and the datasource variable, and a query", p.ID, p.Title)
		}
		ids[p.ID] = true
		for _, q := range p.Targets {
			expr := strings.NewReplacer("$__rate_interval", "5m", "$app", ".*").Replace(q.Expr)
			if strings.Contains(expr, "$") {
				t.Errorf("panel %q: an unknown variable in %s", p.Title, q.Expr)
			}
			fmt.Fprintf(&rules, "      - record: dashboard:panel_%d_%s\n        expr: %q\n", p.ID, strings.ToLower(q.RefID), expr)
		}
	}
	promtool := tool(t, "Debian's prometheus package", "promtool")
	file := filepath.Join(t.TempDir(), "dashboard-queries.yaml")
	os.WriteFile(file, []byte(rules.String()), 0o600)
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("the dashboard's queries do not parse: %v\n%s", err, out)
	}
}

// The Kubernetes manifests (docs/kubernetes/wxtoken.yaml) hold together:
// the Service, the PodDisruptionBudget, the anti-affinity and the
// ServiceMonitor select the Deployment's pods; the budget leaves a
// replica to drain; probes and the monitor name ports that exist; the
// monitor's key is a client's of the config, which the server accepts.
func TestKubernetesManifests(t *testing.T) {
	f, err := os.Open("../docs/kubernetes/wxtoken.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	docs := map[string]map[string]any{}
	dec := yaml.NewDecoder(f)
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("docs/kubernetes/wxtoken.yaml: %v", err)
		}
		docs[doc["kind"].(string)] = doc
	}
	for _, kind := range []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceMonitor"} {
		if docs[kind] == nil {
			t.Fatalf("no %s in docs/kubernetes/wxtoken.yaml", kind)
		}
	}
	get := func(doc map[string]any, path ...string) any {
		var v any = doc
		for _, p := range path {
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%s: no %s", doc["kind"], strings.Join(path, "."))
			}
			v = m[p]
		}
		return v
	}
	same := func(what string, a, b any) {
		t.Helper()
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%s: %v, want %v", what, a, b)
		}
	}
	dep := docs["Deployment"]
	pods := get(dep, "spec", "template", "metadata", "labels")
	same("the Deployment's selector", get(dep, "spec", "selector", "matchLabels"), pods)
	same("the Service's selector", get(docs["Service"], "spec", "selector"), pods)
	same("the PodDisruptionBudget's selector", get(docs["PodDisruptionBudget"], "spec", "selector", "matchLabels"), pods)
	same("the ServiceMonitor's selector (of Services)", get(docs["ServiceMonitor"], "spec", "selector", "matchLabels"), get(docs["Service"], "metadata", "labels"))
	anti := get(dep, "spec", "template", "spec", "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution").([]any)
	same("the anti-affinity's pods", get(anti[0].(map[string]any), "podAffinityTerm", "labelSelector", "matchLabels"), pods)
	same("the anti-affinity's topology", get(anti[0].(map[string]any), "podAffinityTerm", "topologyKey"), "kubernetes.io/hostname")
	if min, replicas := get(docs["PodDisruptionBudget"], "spec", "minAvailable").(int), get(dep, "spec", "replicas").(int); min < 2 || min >= replicas {
		t.Errorf("minAvailable %d of %d replicas: want at least 2 and fewer than the replicas (or no node drains)", min, replicas)
	}

	ctr := get(dep, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
	ports := map[string]bool{}
	for _, p := range ctr["ports"].([]any) {
		ports[p.(map[string]any)["name"].(string)] = true
	}
	for _, probe := range []string{"readinessProbe", "livenessProbe"} {
		if port := get(ctr, probe, "httpGet", "port"); !ports[port.(string)] {
			t.Errorf("%s on port %v, which the container does not name", probe, port)
		}
	}
	same("the readiness probe", get(ctr, "readinessProbe", "httpGet", "path"), "/readyz")
	same("the liveness probe", get(ctr, "livenessProbe", "httpGet", "path"), "/healthz")
	svcPort := get(docs["Service"], "spec", "ports").([]any)[0].(map[string]any)
	if !ports[svcPort["targetPort"].(string)] {
		t.Errorf("the Service targets port %v, which the container does not name", svcPort["targetPort"])
	}
	ep := get(docs["ServiceMonitor"], "spec", "endpoints").([]any)[0].(map[string]any)
	same("the ServiceMonitor's port", ep["port"], svcPort["name"])
	same("the ServiceMonitor's path", ep["path"], "/metrics")
	secretRef := get(ctr, "envFrom").([]any)[0].(map[string]any)["secretRef"].(map[string]any)["name"]
	same("the ServiceMonitor's key secret", get(ep, "authorization", "credentials", "name"), secretRef)
	monitorKey := get(ep, "authorization", "credentials", "key")

	// The config the pods read is one the server accepts, serving the
	// probes on the container's port; the monitor's key is a client's.
	cfg, err := server.ParseConfig(strings.NewReader(get(docs["ConfigMap"], "data", "wxtoken.yaml").(string)))
	if err != nil {
		t.Fatalf("the ConfigMap's wxtoken.yaml: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the ConfigMap's wxtoken.yaml: %v", err)
	}
	if port := ctr["ports"].([]any)[0].(map[string]any)["containerPort"]; !strings.HasSuffix(cfg.Listen, fmt.Sprintf(":%v", port)) {
		t.Errorf("the config listens on %s, the container's port is %v", cfg.Listen, port)
	}
	clientOf := false
	for _, c := range cfg.Clients {
		clientOf = clientOf || c.KeyEnv == monitorKey
	}
	if !clientOf {
		t.Errorf("the ServiceMonitor's key %v is no client's key_env in the config", monitorKey)
	}
}
