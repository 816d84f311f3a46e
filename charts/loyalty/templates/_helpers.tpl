{{/*
Names, labels and the pieces every workload shares. Components are the values blocks:
"members", "points", "rewards" (gRPC services) and "gateway" (HTTP).
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "loyalty.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped name prefix: the release name when it already holds the chart name. */}}
{{- define "loyalty.fullname" -}}
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

{{/* Chart name and version for the helm.sh/chart label. */}}
{{- define "loyalty.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The gRPC services, in dependency order. */}}
{{- define "loyalty.grpcComponents" -}}
members points rewards
{{- end -}}

{{/*
Who calls whom (shared/DESIGN.md): the gateway calls every service; points asks members for
members it has not projected yet; rewards holds points at points-svc and reads members; members
and points subscribe to each other's events and rewards to points', and members to rewards' for
webhooks (docs/events.md, docs/webhooks.md). The upstream
address variables and the NetworkPolicies both come from this one table.
*/}}
{{- define "loyalty.callees" -}}
gateway: [members, points, rewards]
members: [points, rewards]
points: [members]
rewards: [points, members]
{{- end -}}

{{/* Components that call `component`. Takes (dict "root" $ "component" name); a YAML list. */}}
{{- define "loyalty.callers" -}}
{{- $callees := include "loyalty.callees" .root | fromYaml -}}
{{- $callers := list -}}
{{- range $caller := list "gateway" "members" "points" "rewards" -}}
{{- if has $.component (index $callees $caller) -}}
{{- $callers = append $callers $caller -}}
{{- end -}}
{{- end -}}
{{- toYaml $callers -}}
{{- end -}}

{{/* LOYALTY_<PREFIX>_ of a component: MEMBERS, POINTS, REWARDS, GATEWAY. */}}
{{- define "loyalty.envPrefix" -}}
{{- printf "LOYALTY_%s_" (upper .) -}}
{{- end -}}

{{/* The binary (and container) name of a component. */}}
{{- define "loyalty.binary" -}}
{{- if eq . "gateway" -}}gateway{{- else -}}{{ printf "%s-svc" . }}{{- end -}}
{{- end -}}

{{/* Resource name of a component: (dict "root" $ "component" name ["suffix" s]). */}}
{{- define "loyalty.componentName" -}}
{{- $name := printf "%s-%s" (include "loyalty.fullname" .root) .component -}}
{{- if .suffix -}}{{- $name = printf "%s-%s" $name .suffix -}}{{- end -}}
{{- $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Every label; (dict "root" $ "component" name ["values" block] ["extra" labels]). version is the
image tag the pods run; "values" names the block when the component is not one (a migration Job);
"extra" adds pod labels.
*/}}
{{- define "loyalty.labels" -}}
{{- $root := .root -}}
{{- $version := $root.Chart.AppVersion -}}
{{- $values := .values | default (index $root.Values .component) | default dict -}}
{{- if and $values.image $values.image.tag -}}{{- $version = $values.image.tag -}}{{- end -}}
{{- $labels := dict
      "app.kubernetes.io/name" (include "loyalty.name" $root)
      "app.kubernetes.io/instance" $root.Release.Name
      "app.kubernetes.io/component" .component
      "app.kubernetes.io/part-of" "loyalty"
      "app.kubernetes.io/version" ($version | toString | replace "+" "_" | trunc 63 | trimSuffix "-")
      "app.kubernetes.io/managed-by" $root.Release.Service
      "helm.sh/chart" (include "loyalty.chart" $root) -}}
{{- /* commonLabels and pod labels add to these, never replace them. */ -}}
{{- toYaml (merge $labels (.extra | default dict) $root.Values.commonLabels) -}}
{{- end -}}

{{/*
Selector labels: only the stable ones (a selector cannot change after creation, and version or
chart change on every upgrade).
*/}}
{{- define "loyalty.selectorLabels" -}}
app.kubernetes.io/name: {{ include "loyalty.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Metadata annotations from commonAnnotations plus an optional dict "extra". */}}
{{- define "loyalty.annotations" -}}
{{- $all := merge (dict) (.extra | default dict) .root.Values.commonAnnotations -}}
{{- if $all }}
annotations:
  {{- toYaml $all | nindent 2 }}
{{- end }}
{{- end -}}

{{/* registry/repository:tag or @digest; (dict "root" $ "image" .image). */}}
{{- define "loyalty.image" -}}
{{- $registry := .image.registry -}}
{{- if .root.Values.global.imageRegistry -}}{{- $registry = .root.Values.global.imageRegistry -}}{{- end -}}
{{- $repository := .image.repository -}}
{{- if $registry -}}{{- $repository = printf "%s/%s" $registry .image.repository -}}{{- end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (.image.tag | default .root.Chart.AppVersion | toString) -}}
{{- end -}}
{{- end -}}

{{- define "loyalty.imagePullSecrets" -}}
{{- with .Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . | quote }}
  {{- end }}
{{- end }}
{{- end -}}

{{- define "loyalty.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "loyalty.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The migration Jobs run before the release's own resources exist: they get a hook account. */}}
{{- define "loyalty.migrationServiceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- printf "%s-migrate" (include "loyalty.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The headless Service (gRPC clients resolve every ready pod and round-robin over them). */}}
{{- define "loyalty.headlessName" -}}
{{- include "loyalty.componentName" (dict "root" .root "component" .component "suffix" "headless") -}}
{{- end -}}

{{/* dns:///<headless>.<namespace>.svc.<domain>:<port> of a gRPC component. */}}
{{- define "loyalty.upstreamAddress" -}}
{{- $values := index .root.Values .component -}}
{{- printf "dns:///%s.%s.svc.%s:%d" (include "loyalty.headlessName" .) .root.Release.Namespace .root.Values.clusterDomain (int $values.containerPorts.grpc) -}}
{{- end -}}

{{/* A libpq conninfo value in single quotes, with \ and ' escaped. */}}
{{- define "loyalty.pgQuote" -}}
'{{ . | toString | replace "\\" "\\\\" | replace "'" "\\'" }}'
{{- end -}}

{{/*
The LOYALTY_<P>_DATABASE_URL conninfo, never with a password (that comes as PGPASSWORD from a
Secret). (dict "values" $svc "migration" bool).
*/}}
{{- define "loyalty.conninfo" -}}
{{- $db := .values.database -}}
{{- $host := $db.host -}}
{{- $port := int $db.port -}}
{{- $user := $db.user -}}
{{- if .migration -}}
{{- $m := .values.migrations -}}
{{- if $m.host -}}{{- $host = $m.host -}}{{- end -}}
{{- if $m.port -}}{{- $port = int $m.port -}}{{- end -}}
{{- if $m.user -}}{{- $user = $m.user -}}{{- end -}}
{{- end -}}
{{- $pairs := list (printf "host=%s" (include "loyalty.pgQuote" $host)) (printf "port=%d" $port) (printf "dbname=%s" (include "loyalty.pgQuote" $db.name)) (printf "user=%s" (include "loyalty.pgQuote" $user)) (printf "sslmode=%s" $db.sslMode) -}}
{{- range $key, $value := $db.options -}}
{{- $pairs = append $pairs (printf "%s=%s" $key (include "loyalty.pgQuote" $value)) -}}
{{- end -}}
{{- join " " $pairs -}}
{{- end -}}

{{/* Chart-managed Secret with inline (development) database passwords. */}}
{{- define "loyalty.dbSecretName" -}}
{{- printf "%s-db" (include "loyalty.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The same passwords as a hook Secret, for the migration Jobs that run before the release. */}}
{{- define "loyalty.migrationDbSecretName" -}}
{{- printf "%s-migrate-db" (include "loyalty.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
PGPASSWORD for a component, as an env list item, or nothing when no password is configured
(trust, certificate or .pgpass authentication). (dict "root" $ "component" c "migration" bool).
existingSecret always wins: an inline password is then never rendered anywhere.
*/}}
{{- define "loyalty.pgPasswordEnv" -}}
{{- $values := index .root.Values .component -}}
{{- $db := $values.database -}}
{{- $m := $values.migrations -}}
{{- $name := "" -}}
{{- $key := "" -}}
{{- if and .migration $m.existingSecret -}}
{{- $name = $m.existingSecret -}}{{- $key = $m.passwordKey -}}
{{- else if and .migration $m.user (ne $m.user $db.user) -}}
{{- else if $db.existingSecret -}}
{{- $name = $db.existingSecret -}}{{- $key = $db.passwordKey -}}
{{- else if $db.password -}}
{{- $name = ternary (include "loyalty.migrationDbSecretName" .root) (include "loyalty.dbSecretName" .root) (.migration | default false) -}}
{{- $key = printf "%s-password" .component -}}
{{- end -}}
{{- if $name }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $name | quote }}
      key: {{ $key | quote }}
{{- end }}
{{- end -}}

{{/* True ("true") when a component's inline password ends up in a chart-managed Secret. */}}
{{- define "loyalty.usesInlinePassword" -}}
{{- $values := index .root.Values .component -}}
{{- if and $values.enabled (not $values.database.existingSecret) $values.database.password -}}true{{- end -}}
{{- end -}}

{{- define "loyalty.pageTokenSecretName" -}}
{{- if .Values.pageToken.existingSecret -}}
{{- .Values.pageToken.existingSecret -}}
{{- else -}}
{{- printf "%s-page-token" (include "loyalty.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "loyalty.voucherKeySecretName" -}}
{{- if .Values.voucherKey.existingSecret -}}
{{- .Values.voucherKey.existingSecret -}}
{{- else -}}
{{- printf "%s-voucher-key" (include "loyalty.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "loyalty.voucherKeySecretKey" -}}
{{- if .Values.voucherKey.existingSecret -}}{{- .Values.voucherKey.secretKey -}}{{- else -}}voucher-key{{- end -}}
{{- end -}}

{{- define "loyalty.pageTokenSecretKey" -}}
{{- if .Values.pageToken.existingSecret -}}{{- .Values.pageToken.secretKey -}}{{- else -}}page-token-secret{{- end -}}
{{- end -}}

{{/*
Seconds the kubelet waits before SIGKILL: the preStop sleep, then the service's own drain
(SHUTDOWN_GRACE_MS), then 5 s for the metrics endpoint to stop (up to 2 s) and handlers to
return. An explicit terminationGracePeriodSeconds wins.
*/}}
{{- define "loyalty.terminationGracePeriodSeconds" -}}
{{- if ne (toString .terminationGracePeriodSeconds) "" -}}
{{- int .terminationGracePeriodSeconds -}}
{{- else -}}
{{- add (int .preStopSleepSeconds) (div (add (int .config.shutdownGraceMs) 999) 1000) 5 -}}
{{- end -}}
{{- end -}}

{{/* Affinity: explicit `affinity`, else the soft/hard anti-affinity preset over nodes. */}}
{{- define "loyalty.affinity" -}}
{{- $values := index .root.Values .component -}}
{{- if $values.affinity }}
affinity:
  {{- toYaml $values.affinity | nindent 2 }}
{{- else if eq $values.podAntiAffinityPreset "soft" }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 1
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "loyalty.selectorLabels" . | nindent 14 }}
{{- else if eq $values.podAntiAffinityPreset "hard" }}
affinity:
  podAntiAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "loyalty.selectorLabels" . | nindent 12 }}
{{- end }}
{{- end -}}

{{/* Probe timings without the chart's own `enabled` switch. */}}
{{- define "loyalty.probeTimings" -}}
{{- toYaml (omit . "enabled") -}}
{{- end -}}

{{/* Refuses combinations that cannot work, with one clear line each. */}}
{{- define "loyalty.validateValues" -}}
{{- $v := .Values -}}
{{- if and $v.points.enabled (not $v.members.enabled) -}}
{{- fail "points.enabled needs members.enabled: points-svc asks members-svc about members" -}}
{{- end -}}
{{- if and $v.rewards.enabled (not (and $v.points.enabled $v.members.enabled)) -}}
{{- fail "rewards.enabled needs points.enabled and members.enabled: redemptions hold points and read members" -}}
{{- end -}}
{{- if and $v.gateway.enabled (not $v.members.enabled) -}}
{{- fail "gateway.enabled needs at least members.enabled: the gateway has nothing to route to" -}}
{{- end -}}
{{- if and (not $v.pageToken.existingSecret) $v.pageToken.value (lt (len $v.pageToken.value) 16) -}}
{{- fail "pageToken.value must be at least 16 characters (LOYALTY_PAGE_TOKEN_SECRET)" -}}
{{- end -}}
{{- if and (not $v.voucherKey.existingSecret) $v.voucherKey.value (lt (len $v.voucherKey.value) 32) -}}
{{- fail "voucherKey.value must be at least 32 characters (LOYALTY_REWARDS_VOUCHER_KEY)" -}}
{{- end -}}
{{- end -}}
