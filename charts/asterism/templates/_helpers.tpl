{{/* Chart name, truncated to 63 characters. */}}
{{- define "asterism.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-qualified name, truncated to 63 characters. */}}
{{- define "asterism.fullname" -}}
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

{{/* <fullname>-<component>, truncated. Call with (list $ "edge"). */}}
{{- define "asterism.component.fullname" -}}
{{- $top := index . 0 -}}
{{- printf "%s-%s" (include "asterism.fullname" $top) (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels every resource gets. Call with (list $ "edge"). */}}
{{- define "asterism.labels" -}}
{{- $top := index . 0 -}}
helm.sh/chart: {{ printf "%s-%s" $top.Chart.Name $top.Chart.Version | replace "+" "_" | trunc 63 }}
app.kubernetes.io/name: {{ include "asterism.name" $top }}
app.kubernetes.io/instance: {{ $top.Release.Name }}
app.kubernetes.io/version: {{ $top.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $top.Release.Service }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* Selector labels. Call with (list $ "edge"). */}}
{{- define "asterism.selectorLabels" -}}
{{- $top := index . 0 -}}
app.kubernetes.io/name: {{ include "asterism.name" $top }}
app.kubernetes.io/instance: {{ $top.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* Image of a component. Call with (list $ "edge"). */}}
{{- define "asterism.image" -}}
{{- $top := index . 0 -}}
{{- printf "%s/asterism-%s:%s" $top.Values.image.registry (index . 1) (default $top.Chart.AppVersion $top.Values.image.tag) -}}
{{- end -}}

{{/* Hardened pod security context. */}}
{{- define "asterism.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Hardened container security context. */}}
{{- define "asterism.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Redis URL: external, or the bundled StatefulSet's service with the
generated password (ASTERISM_REDIS_PASSWORD, from the keys Secret). */}}
{{- define "asterism.redisUrl" -}}
{{- if .Values.redis.bundled.enabled -}}
{{- printf "redis://:$(ASTERISM_REDIS_PASSWORD)@%s:6379/" (include "asterism.component.fullname" (list . "redis")) -}}
{{- else -}}
{{- .Values.redis.url -}}
{{- end -}}
{{- end -}}

{{/* Environment every Asterism container gets: its address, logs, admin
port, OTLP, then the component's extraEnv. Call with (list $ hostNetwork
"edge"): with the node's network, the admin port binds to the pod's address
(the node's internal one), never to every address of the node. */}}
{{- define "asterism.commonEnv" -}}
{{- $top := index . 0 -}}
{{- $hostNet := index . 1 -}}
{{- $c := index $top.Values (index . 2) -}}
- name: ASTERISM_POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
# The pod's identity on every span (k8s.pod.name, k8s.namespace.name, k8s.node.name).
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: K8S_NAMESPACE_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: K8S_NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: ASTERISM_LOG_FORMAT
  value: {{ $top.Values.logging.format | quote }}
- name: ASTERISM_LOG
  value: {{ $top.Values.logging.level | quote }}
- name: ASTERISM_ADMIN_LISTEN
  value: "{{ if $hostNet }}$(ASTERISM_POD_IP){{ else }}0.0.0.0{{ end }}:{{ $c.adminPort }}"
# Runtime threads: as many as the CPUs the container may use.
- name: ASTERISM_WORKER_THREADS
{{- if $c.workerThreads }}
  value: {{ $c.workerThreads | quote }}
{{- else }}
  valueFrom:
    resourceFieldRef:
      resource: limits.cpu
      divisor: "1"
{{- end }}
{{- if $top.Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $top.Values.otel.endpoint | quote }}
{{- end }}
{{- if $top.Values.otel.resourceAttributes }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ $top.Values.otel.resourceAttributes | quote }}
{{- end }}
{{- with $top.Values.otel.sampler }}
- name: OTEL_TRACES_SAMPLER
  value: {{ . | quote }}
{{- end }}
{{- with $top.Values.otel.samplerArg }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ . | quote }}
{{- end }}
{{- with $top.Values.otel.headersSecret.name }}
- name: OTEL_EXPORTER_OTLP_HEADERS
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $top.Values.otel.headersSecret.key }}
{{- end }}
{{- if $top.Values.otel.caSecret.name }}
- name: OTEL_EXPORTER_OTLP_CERTIFICATE
  value: /etc/asterism-otel/{{ $top.Values.otel.caSecret.key }}
{{- end }}
{{- with $c.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Pod-level scheduling every chart offers: image pull secrets, node
selector, tolerations, affinity, spread constraints, priority class. Call
with (list $ "edge"). */}}
{{- define "asterism.podScheduling" -}}
{{- $top := index . 0 -}}
{{- $c := index $top.Values (index . 1) -}}
{{- with $top.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{/* The component's podAnnotations, as a metadata block. Call with (list $ "edge"). */}}
{{- define "asterism.podAnnotations" -}}
{{- $top := index . 0 -}}
{{- with (index $top.Values (index . 1)).podAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Values that cannot work, refused at install with what is wrong (the
schema cannot compare two values). */}}
{{- define "asterism.validate" -}}
{{- $v := .Values -}}
{{- if ge (int $v.media.rtp.firstPort) (int $v.media.rtp.lastPort) -}}
{{- fail (printf "media.rtp.firstPort (%v) must be below media.rtp.lastPort (%v)" $v.media.rtp.firstPort $v.media.rtp.lastPort) -}}
{{- end -}}
{{- $pairs := div (add 1 (sub (int $v.media.rtp.lastPort) (int $v.media.rtp.firstPort))) 2 -}}
{{- if gt (int $v.media.capacity) (int $pairs) -}}
{{- fail (printf "media.capacity (%v sessions) needs %v RTP/RTCP port pairs; media.rtp.firstPort..lastPort holds %v" $v.media.capacity $v.media.capacity $pairs) -}}
{{- end -}}
{{- if not (and (le (int $v.registrar.minExpires) (int $v.registrar.defaultExpires)) (le (int $v.registrar.defaultExpires) (int $v.registrar.maxExpires))) -}}
{{- fail (printf "registrar expires must be minExpires (%v) <= defaultExpires (%v) <= maxExpires (%v)" $v.registrar.minExpires $v.registrar.defaultExpires $v.registrar.maxExpires) -}}
{{- end -}}
{{- if and $v.redis.bundled.enabled $v.redis.url -}}
{{- fail "redis.url is set while the bundled Redis is on (redis.bundled.enabled): it would be ignored; disable the bundled Redis to use your own" -}}
{{- end -}}
{{- if and (not $v.redis.bundled.enabled) (not $v.redis.url) -}}
{{- fail "redis.url is required when the bundled Redis is off" -}}
{{- end -}}
{{- range $c := list "edge" "registrar" "router" "media" "sip-conf" "dialplan" "keys" "redis" -}}
{{- $n := printf "%s-%s" (include "asterism.fullname" $) $c -}}
{{- if gt (len $n) 63 -}}
{{- fail (printf "resource name %s is longer than 63 characters: shorten the release name or fullnameOverride" $n) -}}
{{- end -}}
{{- end -}}
{{- if and $v.networkPolicy.enabled (include "asterism.edgeHostNetwork" $) (not $v.networkPolicy.nodeCIDRs) -}}
{{- fail "an edge on the node's network calls the registrar, router and media from the nodes' addresses, which NetworkPolicy pod selectors do not match: set networkPolicy.nodeCIDRs (or disable networkPolicy)" -}}
{{- end -}}
{{- if and (eq $v.media.advertiseFrom "node") (not (or $v.media.hostNetwork $v.media.rtp.hostPorts)) -}}
{{- fail "media.advertiseFrom=node needs media.hostNetwork or media.rtp.hostPorts: a pod on the pod network is not reached at its node's address" -}}
{{- end -}}
{{- if $v.media.advertise -}}
{{- if not (regexMatch "^([0-9]{1,3}\\.){3}[0-9]{1,3}$|^[0-9a-fA-F:]+$" $v.media.advertise) -}}
{{- fail (printf "media.advertise (%s) must be an IP address (SDP carries addresses)" $v.media.advertise) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Whether the edge runs on the node's network. */}}
{{- define "asterism.edgeHostNetwork" -}}
{{- if and .Values.edge.daemonSet.enabled .Values.edge.daemonSet.hostNetwork }}true{{ end -}}
{{- end -}}

{{/* Generated passwords of sipConf.users, made once per render (the
Secret and NOTES.txt share them) and kept across upgrades (read back from
the existing Secret). A dict user → password. */}}
{{- define "asterism.sipPasswords" -}}
{{- if not (hasKey .Values "_sipPasswords") -}}
{{- $old := dict -}}
{{- with (lookup "v1" "Secret" .Release.Namespace (include "asterism.component.fullname" (list . "sip-conf"))) -}}
{{- $old = .data | default dict -}}
{{- end -}}
{{- $pw := dict -}}
{{- range .Values.sipConf.users -}}
{{- $key := printf "password-%s" .name -}}
{{- $_ := set $pw .name (index $old $key | default "" | b64dec | default (randAlphaNum 16)) -}}
{{- end -}}
{{- $_ := set .Values "_sipPasswords" $pw -}}
{{- end -}}
{{- toJson .Values._sipPasswords -}}
{{- end -}}

{{/* Probes on the admin port. */}}
{{- define "asterism.probes" -}}
livenessProbe:
  httpGet:
    path: /live
    port: admin
  periodSeconds: 10
readinessProbe:
  httpGet:
    path: /ready
    port: admin
  periodSeconds: 5
{{- end -}}

{{/* Name of the Secret holding the generated keys. */}}
{{- define "asterism.keysSecret" -}}
{{- default (include "asterism.component.fullname" (list . "keys")) .Values.keys.existingSecret -}}
{{- end -}}

{{/* The collector's CA, mounted when otel.caSecret names one: the
container's volumeMounts entry and the pod's volumes entry. */}}
{{- define "asterism.otelMount" -}}
{{- if .Values.otel.caSecret.name }}
- name: otel-ca
  mountPath: /etc/asterism-otel
  readOnly: true
{{- end }}
{{- end -}}

{{- define "asterism.otelVolume" -}}
{{- if .Values.otel.caSecret.name }}
- name: otel-ca
  secret:
    secretName: {{ .Values.otel.caSecret.name }}
    items:
      - key: {{ .Values.otel.caSecret.key }}
        path: {{ .Values.otel.caSecret.key }}
{{- end }}
{{- end -}}
