{{/* Names and labels. */}}
{{- define "backchannel.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "backchannel.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "backchannel.labels" -}}
{{ include "backchannel.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "backchannel.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "backchannel.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The image, pinned: a tag (the appVersion by default), never latest. */}}
{{- define "backchannel.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion | toString -}}
{{- include "backchannel.pinned" (dict "repository" .Values.image.repository "tag" $tag) -}}
{{- end -}}

{{/* The collectors' image: collector.imageTag when set (to hold them back in an upgrade). */}}
{{- define "backchannel.collectorImage" -}}
{{- $tag := .Values.collector.imageTag | default .Values.image.tag | default .Chart.AppVersion | toString -}}
{{- include "backchannel.pinned" (dict "repository" .Values.image.repository "tag" $tag) -}}
{{- end -}}

{{- define "backchannel.pinned" -}}
{{- $tag := .tag -}}
{{- if or (eq $tag "latest") (eq $tag "") -}}
{{- fail "image.tag: name a version (the chart's appVersion by default), not latest" -}}
{{- end -}}
{{- printf "%s:%s" .repository $tag -}}
{{- end -}}

{{- define "backchannel.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "backchannel.fullname" .) -}}
{{- end -}}

{{/* A collector's name as a Kubernetes name (lower case, '_' and '.' as '-'). */}}
{{- define "backchannel.collectorName" -}}
{{- $n := .name | lower | replace "_" "-" | replace "." "-" -}}
{{- if not (regexMatch "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$" $n) -}}
{{- fail (printf "collectors.%s: a collector name is letters, digits, '.', '_' or '-'" .name) -}}
{{- end -}}
{{- printf "%s-collector-%s" .fullname $n | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The configuration file: the user's `config` with what the chart owns laid over it. Rendered by
backchannel.toml.table, a small TOML writer (Helm's toToml writes whole numbers as floats,
which the integer keys refuse).
*/}}
{{- define "backchannel.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) -}}
{{- $_ := unset $cfg "collectors" -}}
{{- $pipeline := get $cfg "pipeline" | default dict -}}
{{- $_ := set $pipeline "mode" "distributed" -}}
{{- $_ := set $cfg "pipeline" $pipeline -}}
{{- $metrics := get $cfg "metrics" | default dict -}}
{{- $_ := set $metrics "listen" (printf "0.0.0.0:%v" .Values.ports.metrics) -}}
{{- $_ := set $cfg "metrics" $metrics -}}
{{- $api := get $cfg "api" | default dict -}}
{{- $_ := set $api "listen" (printf "0.0.0.0:%v" .Values.ports.api) -}}
{{- $_ := set $cfg "api" $api -}}
{{- $collect := get $cfg "collect" | default dict -}}
{{- $_ := set $collect "checkpoint_dir" "/var/lib/backchannel/checkpoints" -}}
{{- $_ := set $cfg "collect" $collect -}}
{{- $collectors := dict -}}
{{- range $name, $c := .Values.collectors -}}
{{- $_ := set $collectors $name (required (printf "collectors.%s.config: the collector's [collectors.%s] table (type and keys)" $name $name) $c.config) -}}
{{- end -}}
{{- $_ := set $cfg "collectors" $collectors -}}
# Rendered by the Helm chart from its values (`config`, `collectors`); keys as in
# deploy/config/defaults.toml, where every key is documented.
{{ include "backchannel.toml.table" (dict "table" $cfg "path" list) }}
{{- end -}}

{{- define "backchannel.toml.key" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . -}}{{ . }}{{- else -}}{{ toJson . }}{{- end -}}
{{- end -}}

{{- define "backchannel.toml.value" -}}
{{- if kindIs "string" . -}}{{ toJson . }}
{{- else if kindIs "bool" . -}}{{ . }}
{{- else if or (kindIs "float64" .) (kindIs "float32" .) -}}
{{- if eq (float64 .) (float64 (int64 .)) -}}{{ int64 . }}{{- else -}}{{ . }}{{- end -}}
{{- else if kindIs "slice" . -}}[{{ range $i, $v := . }}{{ if $i }}, {{ end }}{{ include "backchannel.toml.value" $v }}{{ end }}]
{{- else if kindIs "map" . -}}{ {{- range $i, $k := keys . | sortAlpha }}{{ if $i }}, {{ end }}{{ include "backchannel.toml.key" $k }} = {{ include "backchannel.toml.value" (get $ $k) }}{{ end -}} }
{{- else if kindIs "invalid" . -}}{{ fail "backchannel.toml: a key has no value (null)" }}
{{- else -}}{{ . }}
{{- end -}}
{{- end -}}

{{/* One table: its plain keys, then each sub-table under its own [header]. */}}
{{- define "backchannel.toml.table" -}}
{{- $table := .table -}}
{{- $path := .path -}}
{{- range $k := keys $table | sortAlpha -}}
{{- $v := get $table $k -}}
{{- if not (kindIs "map" $v) }}
{{ include "backchannel.toml.key" $k }} = {{ include "backchannel.toml.value" $v }}
{{- end -}}
{{- end -}}
{{- range $k := keys $table | sortAlpha -}}
{{- $v := get $table $k -}}
{{- if kindIs "map" $v -}}
{{- $sub := append $path $k }}
{{- $keys := list -}}{{- range $sub -}}{{- $keys = append $keys (include "backchannel.toml.key" .) -}}{{- end }}

[{{ join "." $keys }}]
{{- include "backchannel.toml.table" (dict "table" $v "path" $sub) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Environment every Backchannel container gets: the config file and the secrets. */}}
{{- define "backchannel.env" -}}
{{- $secret := include "backchannel.secretName" . -}}
{{- $kafka := .Values.config.kafka | default dict -}}
{{- $scylla := .Values.config.scylla | default dict -}}
- name: BACKCHANNEL_CONFIG
  value: /etc/backchannel/backchannel.toml
- name: {{ $kafka.sasl_password_env | default "BACKCHANNEL_KAFKA_PASSWORD" }}
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: kafka-password, optional: true}
- name: {{ $scylla.password_env | default "BACKCHANNEL_SCYLLA_PASSWORD" }}
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: scylla-password, optional: true}
- name: BACKCHANNEL__REDIS__URL
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: redis-url, optional: true}
{{- end -}}

{{- define "backchannel.volumeMounts" -}}
- name: config
  mountPath: /etc/backchannel/backchannel.toml
  subPath: backchannel.toml
  readOnly: true
- name: work
  mountPath: /var/lib/backchannel
- name: tmp
  mountPath: /tmp
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* `config` names the ConfigMap (the schema Job has a hook copy of its own). */}}
{{- define "backchannel.volumes" -}}
- name: config
  configMap:
    name: {{ .configMap }}
- name: work
  emptyDir: {}
- name: tmp
  emptyDir: {}
{{- with .root.Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "backchannel.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: metrics}
  periodSeconds: 10
  failureThreshold: {{ div (.startupSeconds | int) 10 | max 1 }}
livenessProbe:
  httpGet: {path: /healthz, port: metrics}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 6
readinessProbe:
  httpGet: {path: /readyz, port: metrics}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 3
{{- end -}}

{{- define "backchannel.podAnnotations" -}}
checksum/config: {{ include "backchannel.config" . | sha256sum }}
{{- if .Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.ports.metrics | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}
