package check

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// A valid secret key for values that carry one inline.
const testSecretKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// renderCase is one way of installing the chart.
type renderCase struct {
	name    string
	release string
	args    []string // values given to helm lint and helm template
	// What the values ask for; the rest holds whatever the values.
	replicas        int32
	migrate         string // job or initContainer
	inlineSecret    bool
	ingress         bool
	serviceMonitor  bool
	declared        string // ConfigMap of the declared service accounts ("" none)
	declaredRender  bool   // whether the chart renders it
	dbSecret, dbKey string
}

var renderCases = []renderCase{
	{
		name: "defaults", release: "scimbridge",
		replicas: 2, migrate: "job", dbSecret: "scimbridge", dbKey: "DATABASE_URL",
	},
	{
		name: "CloudNativePG example", release: "scimbridge",
		args:     []string{"-f", filepath.Join("cloudnativepg", "values.yaml")},
		replicas: 3, migrate: "job", ingress: true, serviceMonitor: true,
		declared: "scimbridge-service-accounts", declaredRender: true,
		dbSecret: "scimbridge-db-app", dbKey: "uri",
	},
	{
		name: "inline secrets, init container, ingress and ServiceMonitor", release: "acme",
		args: []string{
			"--set", "ingress.enabled=true,serviceMonitor.enabled=true,migrations.mode=initContainer,replicaCount=4",
			"--set", "databaseURL.value=postgres://scimbridge@db:5432/scimbridge?sslmode=require",
			"--set", "secretKey.value=" + testSecretKey,
			"--set", "declaredServiceAccounts.existingConfigMap=robots",
			"--set", "config.SCIMBRIDGE_PUBLIC_URL=https://scim.example.com",
			"--set", "networkPolicy.enabled=true,preStopSleepSeconds=0",
		},
		replicas: 4, migrate: "initContainer", inlineSecret: true, ingress: true, serviceMonitor: true,
		declared: "robots", dbSecret: "acme-scimbridge", dbKey: "DATABASE_URL",
	},
	{
		name: "inline secrets with the hook Job", release: "acme",
		args: []string{
			"--set", "databaseURL.value=postgres://scimbridge@db:5432/scimbridge",
			"--set", "secretKey.value=" + testSecretKey + ",secretKey.optional=true",
			"--set-json", `declaredServiceAccounts.config={"serviceAccounts":[{"name":"ci-robot","org":"acme"}]}`,
		},
		replicas: 2, migrate: "job", inlineSecret: true,
		declared: "acme-scimbridge-service-accounts", declaredRender: true,
		dbSecret: "acme-scimbridge", dbKey: "DATABASE_URL",
	},
}

// Helm's own linter passes on the chart, with warnings as errors, for
// every set of values the checks render.
func TestChartLints(t *testing.T) {
	t.Parallel()
	for _, rc := range renderCases {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"lint", "--strict", filepath.Join("helm", "scimbridge")}, rc.args...)
			if _, err := helm(args...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Every object the chart renders decodes strictly into its Kubernetes
// type, and together they make the deployment issue #13 asks for: two or
// more hardened, probed replicas that never migrate, a migration before
// them, and a Service, PDB, NetworkPolicy, Ingress and ServiceMonitor that
// select exactly those replicas.
func TestChartRendersAHardenedDeployment(t *testing.T) {
	t.Parallel()
	for _, rc := range renderCases {
		t.Run(rc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"template", rc.release, filepath.Join("helm", "scimbridge"), "--namespace", "scim"}, rc.args...)
			out, err := helm(args...)
			if err != nil {
				t.Fatal(err)
			}
			objs := decodeAll(t, out)
			if t.Failed() {
				return
			}
			checkChart(t, rc, objs)
		})
	}
}

// rendered indexes a rendered chart's objects by kind and name.
type rendered struct {
	byKind map[string][]object
}

func (r rendered) one(t *testing.T, kind string) any {
	t.Helper()
	objs := r.byKind[kind]
	if len(objs) != 1 {
		t.Fatalf("%d objects of kind %s, want 1", len(objs), kind)
	}
	return objs[0].obj
}

func (r rendered) named(kind, name string) any {
	for _, o := range r.byKind[kind] {
		if o.meta.Name == name {
			return o.obj
		}
	}
	return nil
}

func checkChart(t *testing.T, rc renderCase, objs []object) {
	r := rendered{byKind: map[string][]object{}}
	for _, o := range objs {
		r.byKind[o.kind] = append(r.byKind[o.kind], o)
	}
	dep := r.one(t, "apps/v1/Deployment").(*appsv1.Deployment)
	pod := dep.Spec.Template
	podLabels := labels.Set(pod.Labels)

	// Replicas, and a rollout that never drops below them.
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != rc.replicas || *dep.Spec.Replicas < 2 {
		t.Errorf("replicas = %v, want %d (at least 2)", dep.Spec.Replicas, rc.replicas)
	}
	if ru := dep.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("rolling update %+v: want maxUnavailable 0", dep.Spec.Strategy.RollingUpdate)
	}
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil || !sel.Matches(podLabels) {
		t.Errorf("the Deployment's selector %v does not match its pods' labels %v", dep.Spec.Selector, pod.Labels)
	}

	checkPodSecurity(t, "Deployment", pod.Spec)
	server := container(t, pod.Spec.Containers, "scimbridge")
	if !slices.Equal(server.Args, []string{"serve", "--no-migrate"}) {
		t.Errorf("server args %q, want serve --no-migrate (migrations run before the replicas)", server.Args)
	}
	// Probes on the endpoints the service serves, on the port it listens on.
	port := containerPort(t, server, "http")
	env := envOf(server)
	if a := env["SCIMBRIDGE_ADDR"].Value; !strings.HasSuffix(a, fmt.Sprintf(":%d", port)) {
		t.Errorf("SCIMBRIDGE_ADDR %q does not listen on the http port %d", a, port)
	}
	checkProbe(t, "liveness", server.LivenessProbe, "/healthz")
	checkProbe(t, "readiness", server.ReadinessProbe, "/readyz")
	if server.Resources.Requests.Memory().IsZero() || server.Resources.Limits.Memory().IsZero() || server.Resources.Requests.Cpu().IsZero() {
		t.Errorf("server resources %+v: want CPU and memory requests and a memory limit", server.Resources)
	}
	// Graceful shutdown fits in the grace period.
	shutdown := 30 * time.Second
	cm, _ := r.named("v1/ConfigMap", dep.Name).(*corev1.ConfigMap)
	if cm == nil {
		t.Fatalf("no ConfigMap %s for the server's envFrom", dep.Name)
	}
	if v, ok := cm.Data["SCIMBRIDGE_SHUTDOWN_TIMEOUT"]; ok {
		if shutdown, err = time.ParseDuration(v); err != nil {
			t.Fatalf("SCIMBRIDGE_SHUTDOWN_TIMEOUT %q: %v", v, err)
		}
	}
	var sleep time.Duration
	if server.Lifecycle != nil && server.Lifecycle.PreStop != nil && server.Lifecycle.PreStop.Sleep != nil {
		sleep = time.Duration(server.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	var grace time.Duration
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	if grace <= sleep+shutdown {
		t.Errorf("terminationGracePeriodSeconds %v: want more than the preStop sleep %v and the shutdown timeout %v", grace, sleep, shutdown)
	}

	// The settings: secrets from Secrets, the rest from the ConfigMap, and
	// every SCIMBRIDGE_* name one serve reads.
	serveVars := variables(t, "serve")
	serveVars["SCIMBRIDGE_SECRET_KEY"] = true // read by serve, not a flag
	checkSecrets(t, r, rc, "server", server)
	for name := range env {
		if strings.HasPrefix(name, "SCIMBRIDGE_") && !serveVars[name] {
			t.Errorf("the server's environment sets %s, which serve does not read", name)
		}
	}
	for name := range cm.Data {
		if !serveVars[name] {
			t.Errorf("the ConfigMap sets %s, which serve does not read", name)
		}
	}
	if len(server.EnvFrom) != 1 || server.EnvFrom[0].ConfigMapRef == nil || server.EnvFrom[0].ConfigMapRef.Name != cm.Name {
		t.Errorf("server envFrom %+v, want the ConfigMap %s", server.EnvFrom, cm.Name)
	}

	// Migrations: a hook Job or an init container, running migrate.
	migrateVars := variables(t, "migrate")
	migrateVars["SCIMBRIDGE_SECRET_KEY"] = true
	job, _ := r.named("batch/v1/Job", dep.Name+"-migrate").(*batchv1.Job)
	switch rc.migrate {
	case "job":
		if job == nil {
			t.Fatalf("no migration Job %s-migrate", dep.Name)
		}
		if len(pod.Spec.InitContainers) != 0 {
			t.Errorf("init containers %v beside the migration Job", pod.Spec.InitContainers)
		}
		if got := job.Annotations["helm.sh/hook"]; got != "pre-install,pre-upgrade" {
			t.Errorf("the migration Job's hook %q, want pre-install,pre-upgrade", got)
		}
		if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("the migration Job's restartPolicy %q", job.Spec.Template.Spec.RestartPolicy)
		}
		if job.Spec.ActiveDeadlineSeconds == nil {
			t.Error("the migration Job has no deadline")
		}
		checkPodSecurity(t, "migration Job", job.Spec.Template.Spec)
		m := container(t, job.Spec.Template.Spec.Containers, "migrate")
		checkMigrate(t, r, rc, m)
		// The Job's pods are not servers: no Service, PDB or rollout counts them.
		if labels.SelectorFromSet(dep.Spec.Selector.MatchLabels).Matches(labels.Set(job.Spec.Template.Labels)) {
			t.Error("the Deployment's selector matches the migration Job's pods")
		}
		if rc.inlineSecret {
			// Hooks run before the release's objects exist: the Secret the
			// Job reads must be a hook too, made before it.
			s, _ := r.named("v1/Secret", rc.dbSecret).(*corev1.Secret)
			if s == nil || s.Annotations["helm.sh/hook"] != "pre-install,pre-upgrade" ||
				hookWeight(t, s.Annotations) >= hookWeight(t, job.Annotations) {
				t.Errorf("the inline Secret is not a hook made before the Job: %+v", s)
			}
		}
		if len(job.Spec.Template.Spec.ServiceAccountName) > 0 && job.Spec.Template.Spec.ServiceAccountName != "default" {
			t.Errorf("the hook Job names ServiceAccount %q, which the release makes only after its hooks", job.Spec.Template.Spec.ServiceAccountName)
		}
	case "initContainer":
		if job != nil {
			t.Error("a migration Job beside the init container")
		}
		checkMigrate(t, r, rc, container(t, pod.Spec.InitContainers, "migrate"))
	}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		for _, e := range c.Env {
			if e.Name == "SCIMBRIDGE_INIT_ORG" {
				t.Errorf("%s sets SCIMBRIDGE_INIT_ORG, which prints a SCIM token into the pod's log", c.Name)
			}
		}
	}

	// Declared service accounts: a ConfigMap mounted as a directory (so
	// that edits reach the pods), and the variable naming the file in it.
	file := env["SCIMBRIDGE_SERVICE_ACCOUNTS"].Value
	if rc.declared == "" {
		if file != "" {
			t.Errorf("SCIMBRIDGE_SERVICE_ACCOUNTS=%q without declared accounts", file)
		}
	} else {
		vol := volume(t, pod.Spec, "declared")
		if vol.ConfigMap == nil || vol.ConfigMap.Name != rc.declared {
			t.Fatalf("the declared volume %+v, want ConfigMap %s", vol, rc.declared)
		}
		mount := mountOf(t, server, "declared")
		if mount.SubPath != "" || filepath.Dir(file) != mount.MountPath {
			t.Errorf("SCIMBRIDGE_SERVICE_ACCOUNTS=%q, mount %+v: want a file in the mounted directory (no subPath)", file, mount)
		}
		key := filepath.Base(file)
		if len(vol.ConfigMap.Items) > 0 && (vol.ConfigMap.Items[0].Key != "service-accounts.yaml" || vol.ConfigMap.Items[0].Path != key) {
			t.Errorf("the declared volume projects %+v, want service-accounts.yaml as %s", vol.ConfigMap.Items, key)
		}
		got, _ := r.named("v1/ConfigMap", rc.declared).(*corev1.ConfigMap)
		if rc.declaredRender && (got == nil || !strings.Contains(got.Data["service-accounts.yaml"], "serviceAccounts:")) {
			t.Errorf("the declared ConfigMap %s: %+v", rc.declared, got)
		}
		if !rc.declaredRender && got != nil {
			t.Errorf("the chart renders %s, an existing ConfigMap", rc.declared)
		}
	}

	// Service, PDB, NetworkPolicy.
	svc := r.one(t, "v1/Service").(*corev1.Service)
	if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
		t.Errorf("the Service's selector %v does not match the pods %v", svc.Spec.Selector, pod.Labels)
	}
	if job != nil && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(job.Spec.Template.Labels)) {
		t.Error("the Service's selector matches the migration Job's pods")
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].TargetPort != intstr.FromString("http") {
		t.Errorf("Service ports %+v, want http to the pods' http port", svc.Spec.Ports)
	}
	pdb := r.one(t, "policy/v1/PodDisruptionBudget").(*policyv1.PodDisruptionBudget)
	if s, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err != nil || !s.Matches(podLabels) {
		t.Errorf("the PDB's selector %v does not match the pods", pdb.Spec.Selector)
	}
	if pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil {
		t.Error("the PDB bounds nothing")
	}
	np := r.one(t, "networking.k8s.io/v1/NetworkPolicy").(*networkingv1.NetworkPolicy)
	checkNetworkPolicy(t, np, podLabels, job)

	// Ingress: only the client-facing paths, to the Service.
	ing, _ := r.named("networking.k8s.io/v1/Ingress", dep.Name).(*networkingv1.Ingress)
	if rc.ingress != (ing != nil) {
		t.Fatalf("Ingress rendered: %v, want %v", ing != nil, rc.ingress)
	}
	if ing != nil {
		checkIngress(t, ing, svc)
	}

	// ServiceMonitor: selects the Service and scrapes its http port.
	sm, _ := r.named("monitoring.coreos.com/v1/ServiceMonitor", dep.Name).(*monitoringv1.ServiceMonitor)
	if rc.serviceMonitor != (sm != nil) {
		t.Fatalf("ServiceMonitor rendered: %v, want %v", sm != nil, rc.serviceMonitor)
	}
	if sm != nil {
		s, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		if err != nil || !s.Matches(labels.Set(svc.Labels)) {
			t.Errorf("the ServiceMonitor's selector %v does not match the Service's labels %v", sm.Spec.Selector, svc.Labels)
		}
		if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "http" || sm.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoints %+v, want port http, path /metrics", sm.Spec.Endpoints)
		}
	}

	// The ServiceAccount's token is never mounted: the service does not
	// call the Kubernetes API.
	if sa, _ := r.named("v1/ServiceAccount", pod.Spec.ServiceAccountName).(*corev1.ServiceAccount); sa == nil || sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("ServiceAccount %q: %+v, want one rendered with automountServiceAccountToken false", pod.Spec.ServiceAccountName, sa)
	}
}

func hookWeight(t *testing.T, annotations map[string]string) int {
	t.Helper()
	w, err := strconv.Atoi(annotations["helm.sh/hook-weight"])
	if err != nil {
		t.Fatalf("hook weight: %v", err)
	}
	return w
}

func container(t *testing.T, cs []corev1.Container, name string) corev1.Container {
	t.Helper()
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q in %d", name, len(cs))
	return corev1.Container{}
}

func containerPort(t *testing.T, c corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port %q", c.Name, name)
	return 0
}

func volume(t *testing.T, spec corev1.PodSpec, name string) corev1.Volume {
	t.Helper()
	for _, v := range spec.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no volume %q", name)
	return corev1.Volume{}
}

func mountOf(t *testing.T, c corev1.Container, name string) corev1.VolumeMount {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("container %s does not mount %q", c.Name, name)
	return corev1.VolumeMount{}
}

func envOf(c corev1.Container) map[string]corev1.EnvVar {
	m := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		m[e.Name] = e
	}
	return m
}

func checkProbe(t *testing.T, what string, p *corev1.Probe, path string) {
	t.Helper()
	if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port != intstr.FromString("http") {
		t.Errorf("%s probe %+v, want GET %s on port http", what, p, path)
	}
}

// checkPodSecurity: non-root, no privilege, a read-only root, no API
// token, seccomp, and no Service link variables in the SCIMBRIDGE_*
// namespace.
func checkPodSecurity(t *testing.T, what string, spec corev1.PodSpec) {
	t.Helper()
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: pod securityContext %+v, want runAsNonRoot and a non-zero runAsUser", what, psc)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: want the RuntimeDefault seccomp profile", what)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: the ServiceAccount token is mounted", what)
	}
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		t.Errorf("%s: Service link variables (SCIMBRIDGE_PORT…) are on", what)
	}
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s/%s: the root filesystem is writable", what, c.Name)
			continue
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || (sc.Privileged != nil && *sc.Privileged) {
			t.Errorf("%s/%s: privilege escalation allowed", what, c.Name)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s/%s: capabilities %+v, want all dropped", what, c.Name, sc.Capabilities)
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			t.Errorf("%s/%s: runs as root", what, c.Name)
		}
	}
}

// checkSecrets: DATABASE_URL and SCIMBRIDGE_SECRET_KEY come from Secrets
// (the chart's own, with the keys in it, when inline).
func checkSecrets(t *testing.T, r rendered, rc renderCase, what string, c corev1.Container) {
	t.Helper()
	env := envOf(c)
	db := env["DATABASE_URL"]
	if ref := env["DATABASE_URL_FROM_SECRET"]; ref.ValueFrom != nil {
		// DATABASE_URL is built from it; $(NAME) needs NAME defined before.
		if !strings.HasPrefix(db.Value, "$(DATABASE_URL_FROM_SECRET)") || indexOf(c.Env, "DATABASE_URL_FROM_SECRET") > indexOf(c.Env, "DATABASE_URL") {
			t.Errorf("%s: DATABASE_URL %+v is not built from DATABASE_URL_FROM_SECRET defined before it", what, db)
		}
		db = ref
	}
	for _, want := range []struct {
		env corev1.EnvVar
		key string
	}{{db, rc.dbKey}, {env["SCIMBRIDGE_SECRET_KEY"], ""}} {
		if want.env.ValueFrom == nil || want.env.ValueFrom.SecretKeyRef == nil {
			t.Errorf("%s: %s is not read from a Secret: %+v", what, want.env.Name, want.env)
			continue
		}
		ref := want.env.ValueFrom.SecretKeyRef
		if want.key != "" && (ref.Name != rc.dbSecret || ref.Key != want.key) {
			t.Errorf("%s: DATABASE_URL from %s/%s, want %s/%s", what, ref.Name, ref.Key, rc.dbSecret, want.key)
		}
		s, _ := r.named("v1/Secret", ref.Name).(*corev1.Secret)
		if rc.inlineSecret != (s != nil) {
			t.Errorf("%s: Secret %s rendered: %v, want %v", what, ref.Name, s != nil, rc.inlineSecret)
		}
		if s != nil {
			if _, ok := s.StringData[ref.Key]; !ok {
				t.Errorf("%s: the chart's Secret %s has no key %s", what, ref.Name, ref.Key)
			}
		}
	}
}

func indexOf(env []corev1.EnvVar, name string) int {
	return slices.IndexFunc(env, func(e corev1.EnvVar) bool { return e.Name == name })
}

func checkMigrate(t *testing.T, r rendered, rc renderCase, c corev1.Container) {
	t.Helper()
	if !slices.Equal(c.Args, []string{"migrate"}) {
		t.Errorf("migration args %q, want migrate", c.Args)
	}
	checkSecrets(t, r, rc, "migrate", c)
	if c.Resources.Limits.Memory().IsZero() {
		t.Error("the migration has no memory limit")
	}
}

func checkNetworkPolicy(t *testing.T, np *networkingv1.NetworkPolicy, podLabels labels.Set, job *batchv1.Job) {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil || !s.Matches(podLabels) {
		t.Errorf("the NetworkPolicy's selector %v does not match the pods", np.Spec.PodSelector)
	}
	if job != nil && !s.Matches(labels.Set(job.Spec.Template.Labels)) {
		t.Error("the NetworkPolicy does not cover the migration Job's pods")
	}
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
		t.Errorf("policy types %v, want Ingress and Egress", np.Spec.PolicyTypes)
	}
	if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].Ports) != 1 || *np.Spec.Ingress[0].Ports[0].Port != intstr.FromString("http") {
		t.Errorf("ingress rules %+v, want the http port only", np.Spec.Ingress)
	}
	egress := map[string]bool{}
	for _, rule := range np.Spec.Egress {
		for _, p := range rule.Ports {
			egress[fmt.Sprintf("%s/%s", *p.Protocol, p.Port.String())] = true
		}
	}
	for _, want := range []string{"UDP/53", "TCP/53", "TCP/5432", "TCP/443"} {
		if !egress[want] {
			t.Errorf("egress %v lacks %s", sortedKeys(egress), want)
		}
	}
}

func checkIngress(t *testing.T, ing *networkingv1.Ingress, svc *corev1.Service) {
	t.Helper()
	if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].HTTP == nil {
		t.Fatalf("ingress rules %+v", ing.Spec.Rules)
	}
	rule := ing.Spec.Rules[0]
	if len(ing.Spec.TLS) != 1 || !slices.Contains(ing.Spec.TLS[0].Hosts, rule.Host) {
		t.Errorf("ingress TLS %+v does not cover %s", ing.Spec.TLS, rule.Host)
	}
	var paths []string
	for _, p := range rule.HTTP.Paths {
		if p.Backend.Service == nil || p.Backend.Service.Name != svc.Name || p.Backend.Service.Port.Name != "http" {
			t.Errorf("path %s goes to %+v, want the Service's http port", p.Path, p.Backend)
		}
		paths = append(paths, p.Path)
		// Health and metrics stay inside the cluster: metrics carry
		// organization slugs.
		for _, internal := range []string{"/metrics", "/healthz", "/readyz"} {
			if p.PathType != nil && *p.PathType == networkingv1.PathTypePrefix && strings.HasPrefix(internal, p.Path) {
				t.Errorf("path %s (Prefix) routes %s outside", p.Path, internal)
			}
		}
	}
	for _, want := range []string{"/scim/", "/api/", "/auth/", "/hooks/", "/invite/", "/orgs/", "/static/", "/"} {
		if !slices.Contains(paths, want) {
			t.Errorf("ingress paths %v lack %s", paths, want)
		}
	}
}

// Values that would make a broken release are refused when rendering,
// saying what is wrong.
func TestChartRefusesBrokenValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"both a URL and a Secret", []string{"--set", "databaseURL.value=postgres://x,databaseURL.existingSecret=db"}, "not both"},
		{"a short secret key", []string{"--set", "secretKey.value=c2hvcnQ="}, "32 random bytes"},
		{"an unknown migration mode", []string{"--set", "migrations.mode=serve"}, "want job or initContainer"},
		{"a non-SCIMBRIDGE setting", []string{"--set", "config.PGPASSWORD=x"}, "only SCIMBRIDGE_* variables"},
		{"a secret in the ConfigMap", []string{"--set", "config.SCIMBRIDGE_SMTP_URL=smtp://u:p@mail"}, "is a secret"},
		{"a setting the chart owns", []string{"--set", "config.SCIMBRIDGE_NO_MIGRATE=false"}, "set by the chart"},
		{"init-org, which logs a token", []string{"--set", "config.SCIMBRIDGE_INIT_ORG=acme"}, "set by the chart"},
		{"no replica", []string{"--set", "replicaCount=0"}, "at least 1"},
		{"an ingress without a host", []string{"--set", "ingress.enabled=true,ingress.host="}, "ingress.host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"template", "x", filepath.Join("helm", "scimbridge")}, tc.args...)
			_, err := helm(args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a refusal saying %q", err, tc.want)
			}
		})
	}
}
