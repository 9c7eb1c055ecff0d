package deploy

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

const dir = "kubernetes"

// kustomization is the part of kustomize's Kustomization this base uses; decoding it strictly
// makes any other field (or a typo) fail the test, so extending the base means extending this.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
	} `json:"images,omitempty"`
}

// manifests is the base, every resource decoded strictly into its API type.
type manifests struct {
	kust       kustomization
	deployment *appsv1.Deployment
	service    *corev1.Service
	configMap  *corev1.ConfigMap
	secret     *corev1.Secret
	pdb        *policyv1.PodDisruptionBudget
	hpa        *autoscalingv2.HorizontalPodAutoscaler
}

func readStrict(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// load decodes kustomization.yaml and every resource it lists; a kind this test does not know, a
// wrong apiVersion, a second object of a kind or an unknown field fails.
func load(t *testing.T) manifests {
	t.Helper()
	var m manifests
	readStrict(t, filepath.Join(dir, "kustomization.yaml"), &m.kust)
	if m.kust.APIVersion != "kustomize.config.k8s.io/v1beta1" || m.kust.Kind != "Kustomization" {
		t.Fatalf("kustomization.yaml: %s %s", m.kust.APIVersion, m.kust.Kind)
	}
	for _, r := range m.kust.Resources {
		path := filepath.Join(dir, r)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "\n---") {
			t.Fatalf("%s: one object per file, so that each decodes strictly", path)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(b, &tm); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		set := func(slot any, apiVersion string) {
			if tm.APIVersion != apiVersion {
				t.Fatalf("%s: %s has apiVersion %q, want %q", path, tm.Kind, tm.APIVersion, apiVersion)
			}
			readStrict(t, path, slot)
		}
		dup := func(taken bool) {
			if taken {
				t.Fatalf("%s: a second %s", path, tm.Kind)
			}
		}
		switch tm.Kind {
		case "Deployment":
			dup(m.deployment != nil)
			m.deployment = new(appsv1.Deployment)
			set(m.deployment, "apps/v1")
		case "Service":
			dup(m.service != nil)
			m.service = new(corev1.Service)
			set(m.service, "v1")
		case "ConfigMap":
			dup(m.configMap != nil)
			m.configMap = new(corev1.ConfigMap)
			set(m.configMap, "v1")
		case "Secret":
			dup(m.secret != nil)
			m.secret = new(corev1.Secret)
			set(m.secret, "v1")
		case "PodDisruptionBudget":
			dup(m.pdb != nil)
			m.pdb = new(policyv1.PodDisruptionBudget)
			set(m.pdb, "policy/v1")
		case "HorizontalPodAutoscaler":
			dup(m.hpa != nil)
			m.hpa = new(autoscalingv2.HorizontalPodAutoscaler)
			set(m.hpa, "autoscaling/v2")
		default:
			t.Fatalf("%s: kind %q is not checked by this test", path, tm.Kind)
		}
	}
	for kind, missing := range map[string]bool{
		"Deployment": m.deployment == nil, "Service": m.service == nil, "ConfigMap": m.configMap == nil,
		"Secret": m.secret == nil, "PodDisruptionBudget": m.pdb == nil, "HorizontalPodAutoscaler": m.hpa == nil,
	} {
		if missing {
			t.Fatalf("the base has no %s", kind)
		}
	}
	if n := len(m.deployment.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("deployment: %d containers, want 1", n)
	}
	return m
}

// setting is one row of the README's configuration table.
type setting struct{ def string }

var (
	tableRow   = regexp.MustCompile("^\\| `([A-Z][A-Z0-9_]*)` \\| ([^|]*) \\|")
	firstValue = regexp.MustCompile("`([^`]*)`")
)

// readmeConfig parses the root README's configuration table (header "| variable | default |
// meaning |"): each variable with the first backquoted value of its default column ("" if none).
func readmeConfig(t *testing.T) map[string]setting {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]setting{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "| variable | default | meaning |") {
			in = true
			continue
		}
		if !in {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			break
		}
		if m := tableRow.FindStringSubmatch(line); m != nil {
			var def string
			if v := firstValue.FindStringSubmatch(m[2]); v != nil {
				def = v[1]
			}
			out[m[1]] = setting{def: def}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < 10 {
		t.Fatalf("README.md: found %d configuration rows; has the table's header changed?", len(out))
	}
	return out
}

// effective is a variable's value in the deployed pod: the ConfigMap's, else the README default.
func effective(t *testing.T, m manifests, conf map[string]setting, name string) string {
	t.Helper()
	if v, ok := m.configMap.Data[name]; ok {
		return v
	}
	s, ok := conf[name]
	if !ok || s.def == "" {
		t.Fatalf("%s: neither in the ConfigMap nor with a default in README.md", name)
	}
	return s.def
}

func effectiveDuration(t *testing.T, m manifests, conf map[string]setting, name string) time.Duration {
	t.Helper()
	v := effective(t, m, conf, name)
	if v == "0" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return d
}

func effectivePort(t *testing.T, m manifests, conf map[string]setting, name string) int32 {
	t.Helper()
	v := effective(t, m, conf, name)
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	n, err := strconv.ParseInt(port, 10, 32)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return int32(n)
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	m := load(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			want = append(want, b)
		}
	}
	got := slices.Clone(m.kust.Resources)
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("kustomization.yaml resources %v, files %v", got, want)
	}
	image := m.deployment.Spec.Template.Spec.Containers[0].Image
	if !slices.ContainsFunc(m.kust.Images, func(i struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
	}) bool {
		return i.Name == image
	}) {
		t.Errorf("kustomization.yaml has no images entry for the container's image %q", image)
	}
}

// TestPortsAndProbes checks the container's ports against the gateway's listen addresses and the
// probes and Service against those ports.
func TestPortsAndProbes(t *testing.T) {
	m := load(t)
	conf := readmeConfig(t)
	c := m.deployment.Spec.Template.Spec.Containers[0]
	want := map[string]int32{
		"http": effectivePort(t, m, conf, "GATEWAY_HTTP_ADDR"),
		"grpc": effectivePort(t, m, conf, "GATEWAY_GRPC_ADDR"),
	}
	got := map[string]int32{}
	for _, p := range c.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			t.Errorf("port %s: protocol %s", p.Name, p.Protocol)
		}
		got[p.Name] = p.ContainerPort
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("container ports %v, want %v (from GATEWAY_HTTP_ADDR and GATEWAY_GRPC_ADDR)", got, want)
	}
	resolve := func(p intstr.IntOrString) int32 {
		if p.Type == intstr.String {
			return got[p.StrVal] // 0 when no port has the name
		}
		return p.IntVal
	}
	for _, pr := range []struct {
		what  string
		probe *corev1.Probe
		path  string
	}{
		{"readinessProbe", c.ReadinessProbe, "/readyz"},
		{"livenessProbe", c.LivenessProbe, "/healthz"},
	} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			t.Errorf("%s: want an httpGet probe of %s", pr.what, pr.path)
			continue
		}
		g := pr.probe.HTTPGet
		if g.Path != pr.path || resolve(g.Port) != want["http"] {
			t.Errorf("%s: %s on port %s, want %s on %d (http)", pr.what, g.Path, g.Port.String(), pr.path, want["http"])
		}
		if g.Scheme != "" && g.Scheme != corev1.URISchemeHTTP {
			t.Errorf("%s: scheme %s", pr.what, g.Scheme)
		}
	}

	svc := map[string]corev1.ServicePort{}
	for _, p := range m.service.Spec.Ports {
		svc[p.Name] = p
	}
	if len(svc) != 2 {
		t.Errorf("service ports %v, want grpc and http", m.service.Spec.Ports)
	}
	for name, port := range want {
		p, ok := svc[name]
		if !ok {
			t.Errorf("service: no port named %s", name)
			continue
		}
		target := p.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(p.Port) // targetPort defaults to port
		}
		if resolve(target) != port || p.Port != port {
			t.Errorf("service port %s: %d -> %s, want %d -> %d", name, p.Port, target.String(), port, port)
		}
	}
	if ap := svc["grpc"].AppProtocol; ap == nil || *ap != "grpc" {
		t.Errorf("service port grpc: appProtocol %v, want grpc", ap)
	}
}

// TestSelectors checks that the Service, the PodDisruptionBudget and the autoscaler all find the
// Deployment's pods.
func TestSelectors(t *testing.T) {
	m := load(t)
	pod := labels.Set(m.deployment.Spec.Template.Labels)
	sel, err := metav1.LabelSelectorAsSelector(m.deployment.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(pod) {
		t.Errorf("deployment: selector %v does not match its pods' labels %v (%v)", m.deployment.Spec.Selector, pod, err)
	}
	if s := labels.SelectorFromSet(m.service.Spec.Selector); len(m.service.Spec.Selector) == 0 || !s.Matches(pod) {
		t.Errorf("service: selector %v does not match the pods' labels %v", m.service.Spec.Selector, pod)
	}
	sel, err = metav1.LabelSelectorAsSelector(m.pdb.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(pod) {
		t.Errorf("pdb: selector %v does not match the pods' labels %v (%v)", m.pdb.Spec.Selector, pod, err)
	}
	if m.pdb.Spec.MinAvailable == nil && m.pdb.Spec.MaxUnavailable == nil {
		t.Error("pdb: neither minAvailable nor maxUnavailable")
	}
	ref := m.hpa.Spec.ScaleTargetRef
	if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != m.deployment.Name {
		t.Errorf("hpa: scales %s %s %s, want the deployment %s", ref.APIVersion, ref.Kind, ref.Name, m.deployment.Name)
	}
	if min := m.hpa.Spec.MinReplicas; min == nil || *min < 2 || m.hpa.Spec.MaxReplicas < *min {
		t.Errorf("hpa: replicas %v..%d, want at least 2 so that a disruption leaves one serving", min, m.hpa.Spec.MaxReplicas)
	}
	cpu := false
	for _, mt := range m.hpa.Spec.Metrics {
		if mt.Type == autoscalingv2.ResourceMetricSourceType && mt.Resource != nil && mt.Resource.Name == corev1.ResourceCPU &&
			mt.Resource.Target.Type == autoscalingv2.UtilizationMetricType && mt.Resource.Target.AverageUtilization != nil {
			cpu = true
		}
	}
	if !cpu {
		t.Error("hpa: no CPU utilization metric")
	}
	if m.deployment.Spec.Replicas != nil {
		t.Error("deployment: replicas is set; the autoscaler owns the count")
	}
}

// TestEnvironment checks that the pod gets only variables the gateway reads (the README's table),
// from the base's ConfigMap and Secret, and the ones the base promises.
func TestEnvironment(t *testing.T) {
	m := load(t)
	conf := readmeConfig(t)
	c := m.deployment.Spec.Template.Spec.Containers[0]
	names := map[string]string{} // variable -> where it comes from
	for k := range m.configMap.Data {
		names[k] = "configmap"
	}
	for k := range m.configMap.BinaryData {
		t.Errorf("configmap: binaryData %s", k)
	}
	secret := map[string]bool{}
	for k := range m.secret.StringData {
		secret[k] = true
	}
	for k := range m.secret.Data {
		secret[k] = true
	}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil && ef.ConfigMapRef.Name == m.configMap.Name && ef.Prefix == "":
		case ef.SecretRef != nil && ef.SecretRef.Name == m.secret.Name && ef.Prefix == "":
			for k := range secret {
				names[k] = "secret"
			}
		default:
			t.Errorf("envFrom %+v: not the base's ConfigMap or Secret without a prefix", ef)
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			names[e.Name] = "value"
		case e.ValueFrom.SecretKeyRef != nil:
			r := e.ValueFrom.SecretKeyRef
			if r.Name != m.secret.Name || !secret[r.Key] {
				t.Errorf("env %s: secret %s key %s is not in the base's secret", e.Name, r.Name, r.Key)
			}
			names[e.Name] = "secret"
		case e.ValueFrom.ConfigMapKeyRef != nil:
			r := e.ValueFrom.ConfigMapKeyRef
			if _, ok := m.configMap.Data[r.Key]; r.Name != m.configMap.Name || !ok {
				t.Errorf("env %s: configmap %s key %s is not in the base's configmap", e.Name, r.Name, r.Key)
			}
			names[e.Name] = "configmap"
		default:
			t.Errorf("env %s: unexpected source", e.Name)
		}
	}
	for k := range secret {
		if _, ok := names[k]; !ok {
			t.Errorf("secret key %s reaches no variable", k)
		}
	}
	for name, from := range names {
		if _, ok := conf[name]; !ok {
			t.Errorf("%s (%s) is not in README.md's configuration table: the gateway does not read it", name, from)
		}
	}
	for name, from := range map[string]string{"REDIS_URL": "configmap", "LIVECHAT_API_URL": "configmap", "CACHE_KEY_SECRET": "secret"} {
		if names[name] != from {
			t.Errorf("%s comes from %q, want the %s", name, names[name], from)
		}
	}
	if u := m.configMap.Data["REDIS_URL"]; !strings.Contains(u, "://") {
		t.Errorf("REDIS_URL %q is not a URL", u)
	}
	if s := m.secret.StringData["CACHE_KEY_SECRET"]; len(s) < 16 && len(m.secret.Data["CACHE_KEY_SECRET"]) < 16 {
		t.Error("CACHE_KEY_SECRET: shorter than the 16 bytes the gateway requires")
	}
}

// TestShutdown checks that the preStop covers the drain delay and the grace period the preStop,
// the gateway's drain and its shutdown timeout, with a margin.
func TestShutdown(t *testing.T) {
	m := load(t)
	conf := readmeConfig(t)
	drain := effectiveDuration(t, m, conf, "GATEWAY_DRAIN_DELAY")
	shutdown := effectiveDuration(t, m, conf, "GATEWAY_SHUTDOWN_TIMEOUT")
	if drain <= 0 || shutdown <= 0 {
		t.Fatalf("drain %v, shutdown %v: want both set", drain, shutdown)
	}
	spec := m.deployment.Spec.Template.Spec
	var preStop time.Duration
	if l := spec.Containers[0].Lifecycle; l != nil && l.PreStop != nil {
		h := l.PreStop
		if h.Exec != nil || h.HTTPGet != nil || h.TCPSocket != nil {
			t.Error("preStop: the distroless image has no shell; use the sleep handler")
		}
		if h.Sleep != nil {
			preStop = time.Duration(h.Sleep.Seconds) * time.Second
		}
	}
	if preStop < drain {
		t.Errorf("preStop sleeps %v, less than GATEWAY_DRAIN_DELAY %v", preStop, drain)
	}
	const margin = 5 * time.Second
	need := preStop + drain + shutdown + margin
	var grace time.Duration
	if g := spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	} else {
		grace = 30 * time.Second // the API's default
	}
	if grace < need {
		t.Errorf("terminationGracePeriodSeconds %v, want at least %v (preStop %v + drain %v + shutdown %v + %v)",
			grace.Seconds(), need.Seconds(), preStop, drain, shutdown, margin)
	}
}

// TestSecurityAndResources checks the non-root security context and resource bounds.
func TestSecurityAndResources(t *testing.T) {
	m := load(t)
	spec := m.deployment.Spec.Template.Spec
	c := spec.Containers[0]
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and a non-zero runAsUser", psc)
	}
	if psc != nil && (psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault) {
		t.Error("pod securityContext: want seccompProfile RuntimeDefault")
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("container: no securityContext")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("container: allowPrivilegeEscalation is not false")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("container: readOnlyRootFilesystem is not true")
	case sc.Privileged != nil && *sc.Privileged:
		t.Error("container: privileged")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("container: capabilities %+v, want drop ALL and nothing added", sc.Capabilities)
	case sc.RunAsUser != nil && *sc.RunAsUser == 0:
		t.Error("container: runAsUser 0")
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("pod: automountServiceAccountToken is not false; the gateway does not call the API server")
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[r]
		lim, okLim := c.Resources.Limits[r]
		if !okReq || !okLim || req.Sign() <= 0 {
			t.Errorf("container: %s request %v and limit %v, want both", r, req.String(), lim.String())
			continue
		}
		if req.Cmp(lim) > 0 {
			t.Errorf("container: %s request %s above its limit %s", r, req.String(), lim.String())
		}
	}
}
