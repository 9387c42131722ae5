{{/* Names and labels shared by the templates. */}}

{{- define "scimbridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "scimbridge.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "scimbridge.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "scimbridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scimbridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The serving pods (the migration Job's pods are component "migrate"). */}}
{{- define "scimbridge.serverSelectorLabels" -}}
{{ include "scimbridge.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "scimbridge.labels" -}}
helm.sh/chart: {{ include "scimbridge.chart" . }}
{{ include "scimbridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "scimbridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "scimbridge.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "scimbridge.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The Secrets DATABASE_URL and SCIMBRIDGE_SECRET_KEY come from. */}}
{{- define "scimbridge.databaseURLSecret" -}}
{{- default (include "scimbridge.fullname" .) .Values.databaseURL.existingSecret -}}
{{- end -}}

{{- define "scimbridge.secretKeySecret" -}}
{{- default (include "scimbridge.fullname" .) .Values.secretKey.existingSecret -}}
{{- end -}}

{{/* Whether the chart renders the Secret itself (values given inline). */}}
{{- define "scimbridge.createSecret" -}}
{{- if or .Values.databaseURL.value .Values.secretKey.value -}}true{{- end -}}
{{- end -}}

{{- define "scimbridge.declaredConfigMap" -}}
{{- if .Values.declaredServiceAccounts.existingConfigMap -}}
{{- .Values.declaredServiceAccounts.existingConfigMap -}}
{{- else if .Values.declaredServiceAccounts.config -}}
{{- printf "%s-service-accounts" (include "scimbridge.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/*
The environment every scimbridge container gets: the secrets. With a
suffix, DATABASE_URL is built from the Secret's value: Kubernetes expands
$(NAME) of a variable defined before it.
*/}}
{{- define "scimbridge.env" -}}
{{- if .Values.databaseURL.suffix -}}
- name: DATABASE_URL_FROM_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "scimbridge.databaseURLSecret" . }}
      key: {{ .Values.databaseURL.existingSecretKey }}
- name: DATABASE_URL
  value: {{ printf "$(DATABASE_URL_FROM_SECRET)%s" .Values.databaseURL.suffix | quote }}
{{- else -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "scimbridge.databaseURLSecret" . }}
      key: {{ .Values.databaseURL.existingSecretKey }}
{{- end }}
- name: SCIMBRIDGE_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "scimbridge.secretKeySecret" . }}
      key: {{ .Values.secretKey.existingSecretKey }}
      {{- if .Values.secretKey.optional }}
      optional: true
      {{- end }}
{{- end -}}

{{/* Checks values that would otherwise make a broken release. */}}
{{- define "scimbridge.validate" -}}
{{- if lt (int .Values.replicaCount) 1 -}}
{{- fail "replicaCount: want at least 1 (2 or more for availability)" -}}
{{- end -}}
{{- if not (has .Values.migrations.mode (list "job" "initContainer")) -}}
{{- fail (printf "migrations.mode %q: want job or initContainer" .Values.migrations.mode) -}}
{{- end -}}
{{- if and .Values.databaseURL.value .Values.databaseURL.existingSecret -}}
{{- fail "databaseURL: set value or existingSecret, not both" -}}
{{- end -}}
{{- if and .Values.secretKey.value .Values.secretKey.existingSecret -}}
{{- fail "secretKey: set value or existingSecret, not both" -}}
{{- end -}}
{{- if and .Values.secretKey.value (ne (len (b64dec .Values.secretKey.value)) 32) -}}
{{- fail "secretKey.value: want 32 random bytes in base64 (openssl rand -base64 32)" -}}
{{- end -}}
{{- if and .Values.declaredServiceAccounts.config .Values.declaredServiceAccounts.existingConfigMap -}}
{{- fail "declaredServiceAccounts: set config or existingConfigMap, not both" -}}
{{- end -}}
{{- range $k, $v := .Values.config -}}
{{- if not (hasPrefix "SCIMBRIDGE_" $k) -}}
{{- fail (printf "config.%s: only SCIMBRIDGE_* variables belong in config (secrets go in extraEnv with a secretKeyRef)" $k) -}}
{{- end -}}
{{- if has $k (list "SCIMBRIDGE_SECRET_KEY" "SCIMBRIDGE_SMTP_URL") -}}
{{- fail (printf "config.%s is a secret: give it with a Secret (secretKey or extraEnv), not in a ConfigMap" $k) -}}
{{- end -}}
{{- if has $k (list "SCIMBRIDGE_ADDR" "SCIMBRIDGE_NO_MIGRATE" "SCIMBRIDGE_SERVICE_ACCOUNTS" "SCIMBRIDGE_REQUIRE_DATABASE_URL" "SCIMBRIDGE_INIT_ORG") -}}
{{- fail (printf "config.%s is set by the chart" $k) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.ingress.enabled (not .Values.ingress.host) -}}
{{- fail "ingress.host: required when ingress.enabled" -}}
{{- end -}}
{{- end -}}
