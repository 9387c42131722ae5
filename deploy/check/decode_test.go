package check

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// kinds are the objects the chart may render, each with the Go type of
// the API that serves it. Anything else is an error: a kind nobody
// decodes is a kind nobody checked.
var kinds = map[string]func() any{
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"batch/v1/Job":                            func() any { return &batchv1.Job{} },
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                               func() any { return &corev1.Secret{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                       func() any { return &corev1.ServiceAccount{} },
	"policy/v1/PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/Ingress":            func() any { return &networkingv1.Ingress{} },
	"networking.k8s.io/v1/NetworkPolicy":      func() any { return &networkingv1.NetworkPolicy{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
}

// object is one rendered document, decoded.
type object struct {
	source string // the template it came from
	kind   string // apiVersion/kind
	meta   metav1.ObjectMeta
	obj    any
}

var sourceRE = regexp.MustCompile(`(?m)^# Source: (\S+)`)

// splitYAML splits a stream of YAML documents, dropping empty ones.
func splitYAML(stream string) ([]string, error) {
	r := k8syaml.NewYAMLReader(bufio.NewReader(strings.NewReader(stream)))
	var docs []string
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		empty := true
		for _, line := range strings.Split(string(doc), "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") && l != "---" {
				empty = false
			}
		}
		if !empty {
			docs = append(docs, string(doc))
		}
	}
}

// decodeStrict decodes one YAML document into the Go type of its kind:
// duplicate keys, unknown fields (at any depth), fields spelled in
// another case and values of the wrong type are errors, as they are for
// kubectl's strict field validation.
func decodeStrict(doc string) (object, error) {
	o := object{}
	if m := sourceRE.FindStringSubmatch(doc); m != nil {
		o.source = m[1]
	}
	js, err := yaml.YAMLToJSONStrict([]byte(doc))
	if err != nil {
		return o, fmt.Errorf("%s: %w", o.source, err)
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return o, fmt.Errorf("%s: %w", o.source, err)
	}
	o.kind = tm.APIVersion + "/" + tm.Kind
	newObj, ok := kinds[o.kind]
	if !ok {
		return o, fmt.Errorf("%s: %s is not a kind the checks know", o.source, o.kind)
	}
	o.obj = newObj()
	strict, err := sigsjson.UnmarshalStrict(js, o.obj)
	if err != nil {
		return o, fmt.Errorf("%s (%s): %w", o.source, o.kind, err)
	}
	if len(strict) > 0 {
		return o, fmt.Errorf("%s (%s): %v", o.source, o.kind, errors.Join(strict...))
	}
	var meta struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	_ = json.Unmarshal(js, &meta)
	o.meta = meta.Metadata
	if errs := validation.IsDNS1123Subdomain(o.meta.Name); len(errs) > 0 {
		return o, fmt.Errorf("%s (%s): name %q: %s", o.source, o.kind, o.meta.Name, strings.Join(errs, "; "))
	}
	if err := validLabels(o.meta.Labels); err != nil {
		return o, fmt.Errorf("%s (%s): %w", o.source, o.kind, err)
	}
	return o, nil
}

// unmarshalStrict decodes one YAML document into v as decodeStrict does.
func unmarshalStrict(doc string, v any) error {
	js, err := yaml.YAMLToJSONStrict([]byte(doc))
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(js, v)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

func validLabels(labels map[string]string) error {
	for k, v := range labels {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return fmt.Errorf("label key %q: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return fmt.Errorf("label %s=%q: %s", k, v, strings.Join(errs, "; "))
		}
	}
	return nil
}

// decodeAll decodes every document of a rendered chart.
func decodeAll(t *testing.T, manifest string) []object {
	t.Helper()
	docs, err := splitYAML(manifest)
	if err != nil {
		t.Fatal(err)
	}
	var objs []object
	for _, d := range docs {
		o, err := decodeStrict(d)
		if err != nil {
			t.Error(err)
			continue
		}
		objs = append(objs, o)
	}
	return objs
}

// The strict decoding the chart's checks rely on refuses what the API
// server would reject or silently drop.
func TestStrictDecodingRefusesWhatKubernetesWouldNot(t *testing.T) {
	t.Parallel()
	good := `
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
    - name: http
      port: 80
      targetPort: http
`
	if _, err := decodeStrict(good); err != nil {
		t.Fatalf("a valid Service: %v", err)
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown field", strings.Replace(good, "  ports:", "  portz: []\n  ports:", 1), "unknown field"},
		{"unknown nested field", strings.Replace(good, "port: 80", "port: 80\n      tagretPort: 8080", 1), "unknown field"},
		{"wrong type", strings.Replace(good, "port: 80", `port: "80"`, 1), "cannot unmarshal"},
		{"field in another case", strings.Replace(good, "port: 80", "Port: 80", 1), "unknown field"},
		{"duplicate key", strings.Replace(good, "port: 80", "port: 80\n      port: 81", 1), "already set"},
		{"unknown kind", strings.Replace(good, "kind: Service", "kind: Sevrice", 1), "not a kind the checks know"},
		{"bad name", strings.Replace(good, "name: web", "name: Web_1", 1), "name"},
		{"bad label", strings.Replace(good, "name: web", "name: web\n  labels:\n    app: \"a b\"", 1), "label"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeStrict(tc.doc)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
