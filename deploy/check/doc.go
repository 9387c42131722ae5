// Package check holds the tests of what deploy/ ships: the Helm chart
// rendered by Helm and decoded strictly into Kubernetes' own types, the
// CloudNativePG example, the Grafana dashboard and the Prometheus rules.
// It is a module of its own so that the Kubernetes and Prometheus
// libraries the checks need stay out of the service's go.mod.
package check
