{{/*
The chart's name: the chart name, or nameOverride when set. Truncated to 63 characters (the DNS
label limit of Kubernetes names).
*/}}
{{- define "wavecom-notify.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The fully qualified app name: <release>-<name>, or just the release name when it already contains
the chart name; fullnameOverride replaces it. Truncated to 63 characters.
*/}}
{{- define "wavecom-notify.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, as used by the helm.sh/chart label.
*/}}
{{- define "wavecom-notify.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object: the selector labels, the chart, the app version, who manages it, and
commonLabels.
*/}}
{{- define "wavecom-notify.labels" -}}
helm.sh/chart: {{ include "wavecom-notify.chart" . }}
{{ include "wavecom-notify.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: wavecom-notify
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels of the release (name and instance); components add app.kubernetes.io/component.
*/}}
{{- define "wavecom-notify.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wavecom-notify.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of one component's objects. Call with (dict "root" $ "component" "api").
*/}}
{{- define "wavecom-notify.componentLabels" -}}
{{ include "wavecom-notify.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Selector labels of one component. Call with (dict "root" $ "component" "worker-email").
*/}}
{{- define "wavecom-notify.componentSelectorLabels" -}}
{{ include "wavecom-notify.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
The name of the ServiceAccount the pods run as.
*/}}
{{- define "wavecom-notify.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "wavecom-notify.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The ServiceAccount of the setup hook Job: a hook ServiceAccount of its own when the chart creates
ServiceAccounts (the release's is created only after the pre-install hooks), else the given one.
*/}}
{{- define "wavecom-notify.setupServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- printf "%s-setup" (include "wavecom-notify.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference: repository@digest when a digest is set, else repository:tag (tag defaulting
to the chart's appVersion).
*/}}
{{- define "wavecom-notify.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The Secret holding AMQP_URL, MONGODB_URL and the management URL: existingSecret, or the chart's own.
*/}}
{{- define "wavecom-notify.secretName" -}}
{{- default (include "wavecom-notify.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/*
The non-secret settings as environment variables (the ConfigMap's data): one per field of
wavecom.core.settings.Settings, except EXIT_BEFORE_PUBLISH (fault tests only), AMQP_URL / MONGODB_URL
and CREDENTIALS_KEY / CREDENTIALS_PREVIOUS_KEY (in the Secret) and the per-worker PREFETCH, BATCH_SIZE, BATCH_WAIT_MS, MAX_BATCHES_IN_FLIGHT
(in each worker's env). Values are strings, as environment variables are.
*/}}
{{- define "wavecom-notify.configData" -}}
{{- $c := .Values.config -}}
ENVIRONMENT: {{ $c.environment | quote }}
LOG_LEVEL: {{ $c.logLevel | quote }}
LOG_FORMAT: {{ $c.logFormat | quote }}
MONGODB_DATABASE: {{ $c.mongodbDatabase | quote }}
DEV_TENANT: {{ $c.devTenant | quote }}
API_HOST: "0.0.0.0"
API_PORT: {{ .Values.api.port | quote }}
API_KEEP_ALIVE_S: {{ $c.apiKeepAliveS | int64 | quote }}
MAX_BODY_BYTES: {{ $c.maxBodyBytes | int64 | quote }}
MAX_BATCH_ITEMS: {{ $c.maxBatchItems | int64 | quote }}
MAX_METADATA_BYTES: {{ $c.maxMetadataBytes | int64 | quote }}
MAX_METADATA_DEPTH: {{ $c.maxMetadataDepth | int64 | quote }}
PUBLISH_TIMEOUT_S: {{ $c.publishTimeoutS | toString | quote }}
CORS_ORIGINS: {{ $c.corsOrigins | quote }}
RATE_LIMIT_PER_S: {{ $c.rateLimitPerS | toString | quote }}
RATE_LIMIT_BURST: {{ $c.rateLimitBurst | int64 | quote }}
TENANT_CACHE_S: {{ $c.tenantCacheS | toString | quote }}
KEY_CACHE_S: {{ $c.keyCacheS | toString | quote }}
ADMISSION_MAX_IN_FLIGHT: {{ $c.admissionMaxInFlight | int64 | quote }}
ADMISSION_RETRY_AFTER_S: {{ $c.admissionRetryAfterS | int64 | quote }}
ADMISSION_QUEUE_DEADLINE_S: {{ $c.admissionQueueDeadlineS | toString | quote }}
ADMISSION_MAX_LAG_MS: {{ $c.admissionMaxLagMs | int64 | quote }}
EVENTS_FLUSH_MS: {{ $c.eventsFlushMs | int64 | quote }}
DASHBOARD_DIR: "/app/frontend/out"
QUEUE_TYPE: {{ $c.queueType | quote }}
QUEUE_DELIVERY_LIMIT: {{ $c.queueDeliveryLimit | int64 | quote }}
QUEUE_MAX_LENGTH: {{ $c.queueMaxLength | int64 | quote }}
SHED_LOW_BACKLOG: {{ $c.shedLowBacklog | int64 | quote }}
SHED_MEDIUM_BACKLOG: {{ $c.shedMediumBacklog | int64 | quote }}
SHED_RETRY_AFTER_S: {{ $c.shedRetryAfterS | int64 | quote }}
MAX_RETRIES: {{ $c.maxRetries | int64 | quote }}
RETRY_BASE_DELAY_MS: {{ $c.retryBaseDelayMs | int64 | quote }}
RETRY_MULTIPLIER: {{ $c.retryMultiplier | toString | quote }}
RETRY_MAX_DELAY_MS: {{ $c.retryMaxDelayMs | int64 | quote }}
RETRY_JITTER: {{ $c.retryJitter | toString | quote }}
PROVIDER_TIMEOUT_S: {{ $c.providerTimeoutS | toString | quote }}
BREAKER_FAIL_MAX: {{ $c.breakerFailMax | int64 | quote }}
BREAKER_RESET_S: {{ $c.breakerResetS | toString | quote }}
BREAKER_REPORT_S: {{ $c.breakerReportS | toString | quote }}
SHUTDOWN_GRACE_S: {{ $c.shutdownGraceS | toString | quote }}
CLAIM_TTL_S: {{ $c.claimTtlS | toString | quote }}
OUTCOME_LINGER_MS: {{ $c.outcomeLingerMs | int64 | quote }}
SETTLE_LINGER_MS: {{ $c.settleLingerMs | int64 | quote }}
SCHEDULER_INTERVAL_S: {{ $c.schedulerIntervalS | toString | quote }}
OUTBOX_GRACE_S: {{ $c.outboxGraceS | toString | quote }}
SWEEP_AFTER_S: {{ $c.sweepAfterS | toString | quote }}
SWEEP_INTERVAL_S: {{ $c.sweepIntervalS | toString | quote }}
SWEEP_LIMIT: {{ $c.sweepLimit | int64 | quote }}
PROVIDERS_POLL_S: {{ $c.providersPollS | toString | quote }}
PUBLIC_BASE_URL: {{ $c.publicBaseUrl | quote }}
EXPIRY_SWEEP_INTERVAL_S: {{ $c.expirySweepIntervalS | toString | quote }}
EXPIRY_SWEEP_LIMIT: {{ $c.expirySweepLimit | int64 | quote }}
RECEIPT_SWEEP_S: {{ $c.receiptSweepS | toString | quote }}
RECEIPT_HOLD_S: {{ $c.receiptHoldS | toString | quote }}
CALLBACK_CONCURRENCY: {{ $c.callbackConcurrency | int64 | quote }}
CALLBACK_TIMEOUT_S: {{ $c.callbackTimeoutS | toString | quote }}
CALLBACK_BACKOFF_BASE_S: {{ $c.callbackBackoffBaseS | toString | quote }}
CALLBACK_BACKOFF_MAX_S: {{ $c.callbackBackoffMaxS | toString | quote }}
CALLBACK_RETRY_WINDOW_S: {{ $c.callbackRetryWindowS | toString | quote }}
CALLBACK_POLL_S: {{ $c.callbackPollS | toString | quote }}
CALLBACK_REPAIR_S: {{ $c.callbackRepairS | toString | quote }}
CALLBACK_REPAIR_OVERLAP_S: {{ $c.callbackRepairOverlapS | toString | quote }}
CALLBACK_ROTATION_GRACE_S: {{ $c.callbackRotationGraceS | toString | quote }}
CREDENTIALS_KEY_ID: {{ $c.credentialsKeyId | quote }}
CREDENTIALS_PREVIOUS_KEY_ID: {{ $c.credentialsPreviousKeyId | quote }}
PROVIDERS_EMAIL: {{ $c.providers.email | quote }}
PROVIDERS_SMS: {{ $c.providers.sms | quote }}
PROVIDERS_PUSH: {{ $c.providers.push | quote }}
LEDGER_DIR: {{ $c.ledgerDir | quote }}
{{- if not (kindIs "invalid" $c.providerSeed) }}
PROVIDER_SEED: {{ $c.providerSeed | int64 | quote }}
{{- end }}
{{- with .Values.tracing }}
{{- if .otlpEndpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ .otlpEndpoint | quote }}
OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf"
OTEL_TRACES_SAMPLER: {{ .sampler | quote }}
OTEL_TRACES_SAMPLER_ARG: {{ .samplerArg | quote }}
{{- with .resourceAttributes }}
OTEL_RESOURCE_ATTRIBUTES: {{ . | quote }}
{{- end }}
{{- range $k, $v := .extraEnv }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- range $k, $v := $c.extraEnv }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end }}

{{/*
The chart's Secret data (when no existingSecret): the connection URLs, the credentials keys
when set, and `secrets.extra`.
*/}}
{{- define "wavecom-notify.secretData" -}}
{{ .Values.secrets.amqpUrlKey }}: {{ .Values.secrets.amqpUrl | b64enc | quote }}
{{ .Values.secrets.mongodbUrlKey }}: {{ .Values.secrets.mongodbUrl | b64enc | quote }}
{{- if .Values.secrets.rabbitmqManagementUrl }}
{{ .Values.secrets.rabbitmqManagementUrlKey }}: {{ .Values.secrets.rabbitmqManagementUrl | b64enc | quote }}
{{- end }}
{{- if .Values.secrets.credentialsKey }}
{{ .Values.secrets.credentialsKeyKey }}: {{ .Values.secrets.credentialsKey | b64enc | quote }}
{{- end }}
{{- if .Values.secrets.credentialsPreviousKey }}
{{ .Values.secrets.credentialsPreviousKeyKey }}: {{ .Values.secrets.credentialsPreviousKey | b64enc | quote }}
{{- end }}
{{- range $k, $v := .Values.secrets.extra }}
{{ $k }}: {{ $v | toString | b64enc | quote }}
{{- end }}
{{- end }}

{{/*
The environment of every product container: the ConfigMap, then the URLs and the credentials
keys from the Secret under the names Settings reads (the key names may differ in an
existingSecret, where the credentials keys are optional), then the extra secret variables. The
API, the workers and the operator get the same CREDENTIALS_KEY: what one seals the others open. Call with (dict "root" $ "configMap" <name> "secret" <name>).
*/}}
{{- define "wavecom-notify.env" -}}
- name: AMQP_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .root.Values.secrets.amqpUrlKey }}
- name: MONGODB_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .root.Values.secrets.mongodbUrlKey }}
{{- $s := .root.Values.secrets }}
{{- if or $s.existingSecret $s.credentialsKey }}
- name: CREDENTIALS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ $s.credentialsKeyKey }}
      {{- if $s.existingSecret }}
      optional: true
      {{- end }}
{{- end }}
{{- if or $s.existingSecret $s.credentialsPreviousKey }}
- name: CREDENTIALS_PREVIOUS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ $s.credentialsPreviousKeyKey }}
      {{- if $s.existingSecret }}
      optional: true
      {{- end }}
{{- end }}
{{- if not .root.Values.secrets.existingSecret }}
{{- range $k, $v := .root.Values.secrets.extra }}
- name: {{ $k }}
  valueFrom:
    secretKeyRef:
      name: {{ $.secret }}
      key: {{ $k }}
{{- end }}
{{- end }}
{{- include "wavecom-notify.tlsEnv" .root }}
{{- with .root.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
TLS with a private CA (tls.*): where the CA bundle and the client certificate are mounted.
*/}}
{{- define "wavecom-notify.tlsCaFile" -}}/etc/wavecom/tls/ca/ca.crt{{- end }}
{{- define "wavecom-notify.tlsCertFile" -}}/etc/wavecom/tls/client/tls.crt{{- end }}
{{- define "wavecom-notify.tlsKeyFile" -}}/etc/wavecom/tls/client/tls.key{{- end }}

{{/*
The environment variables naming the mounted files, for each connection tls.* turns on (the
product's AMQP_* / MONGODB_TLS_* settings, the OpenTelemetry SDK's own OTEL_EXPORTER_OTLP_*).
Fails rendering when a connection is turned on with nothing to mount.
*/}}
{{- define "wavecom-notify.tlsEnv" -}}
{{- $t := .Values.tls }}
{{- $ca := or $t.ca.secretName $t.ca.configMapName }}
{{- $client := $t.clientCertificate.secretName }}
{{- range $what := list "amqp" "mongodb" "otlp" "keda" }}
{{- if and (index $t $what) (not (or $ca $client)) }}
{{- fail (printf "tls.%s: set tls.ca (secretName or configMapName) or tls.clientCertificate.secretName" $what) }}
{{- end }}
{{- end }}
{{- if and $t.ca.secretName $t.ca.configMapName }}
{{- fail "tls.ca: set secretName or configMapName, not both" }}
{{- end }}
{{- if and $t.keda $t.ca.configMapName (not $t.ca.secretName) }}
{{- fail "tls.keda: KEDA reads a CA only from a Secret: set tls.ca.secretName" }}
{{- end }}
{{- $vars := list }}
{{- if $t.amqp }}{{ $vars = append $vars (list "AMQP_CA_FILE" "AMQP_CERT_FILE" "AMQP_KEY_FILE") }}{{ end }}
{{- if $t.mongodb }}{{ $vars = append $vars (list "MONGODB_TLS_CA_FILE" "MONGODB_TLS_CERT_FILE" "MONGODB_TLS_KEY_FILE") }}{{ end }}
{{- if $t.otlp }}{{ $vars = append $vars (list "OTEL_EXPORTER_OTLP_CERTIFICATE" "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE" "OTEL_EXPORTER_OTLP_CLIENT_KEY") }}{{ end }}
{{- range $v := $vars }}
{{- if $ca }}
- name: {{ index $v 0 }}
  value: {{ include "wavecom-notify.tlsCaFile" $ | quote }}
{{- end }}
{{- if $client }}
- name: {{ index $v 1 }}
  value: {{ include "wavecom-notify.tlsCertFile" $ | quote }}
- name: {{ index $v 2 }}
  value: {{ include "wavecom-notify.tlsKeyFile" $ | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The volume mounts of every product container: /tmp (the only writable path of the read-only
root file system), the TLS files (read-only) when tls.* names them, then extraVolumeMounts.
*/}}
{{- define "wavecom-notify.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if or .Values.tls.ca.secretName .Values.tls.ca.configMapName }}
- name: tls-ca
  mountPath: /etc/wavecom/tls/ca
  readOnly: true
{{- end }}
{{- if .Values.tls.clientCertificate.secretName }}
- name: tls-client
  mountPath: /etc/wavecom/tls/client
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The volumes of every pod: /tmp, the TLS files, then extraVolumes.
*/}}
{{- define "wavecom-notify.volumes" -}}
{{ include "wavecom-notify.tmpVolume" . }}
{{- $t := .Values.tls }}
{{- if $t.ca.secretName }}
- name: tls-ca
  secret:
    secretName: {{ $t.ca.secretName }}
    items:
      - key: {{ $t.ca.key }}
        path: ca.crt
{{- else if $t.ca.configMapName }}
- name: tls-ca
  configMap:
    name: {{ $t.ca.configMapName }}
    items:
      - key: {{ $t.ca.key }}
        path: ca.crt
{{- end }}
{{- with $t.clientCertificate }}
{{- if .secretName }}
- name: tls-client
  secret:
    secretName: {{ .secretName }}
    # the key readable by the pods' group (fsGroup) only
    defaultMode: 0440
    items:
      - key: {{ .certKey }}
        path: tls.crt
      - key: {{ .keyKey }}
        path: tls.key
{{- end }}
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Pod-level fields shared by every Deployment and the setup Job: the ServiceAccount, pull secrets,
security context, priority, scheduling.
*/}}
{{- define "wavecom-notify.podCommon" -}}
{{- include "wavecom-notify.podCommonWith" (dict "root" . "serviceAccountName" (include "wavecom-notify.serviceAccountName" .)) }}
{{- end }}

{{/*
podCommon with a given ServiceAccount name. Call with (dict "root" $ "serviceAccountName" <name>),
and "automount" true|false to override serviceAccount.automountServiceAccountToken (the operator
calls the Kubernetes API: its token is mounted).
*/}}
{{- define "wavecom-notify.podCommonWith" -}}
{{- $sa := .serviceAccountName }}
{{- $automount := .root.Values.serviceAccount.automountServiceAccountToken }}
{{- if hasKey . "automount" }}{{- $automount = .automount }}{{- end }}
{{- with .root }}
serviceAccountName: {{ $sa }}
automountServiceAccountToken: {{ $automount }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A topologySpreadConstraint over one component's pods, when topologySpread.enabled.
Call with (dict "root" $ "component" "api").
*/}}
{{- define "wavecom-notify.topologySpread" -}}
{{- $t := .root.Values.topologySpread }}
{{- if $t.enabled }}
topologySpreadConstraints:
  - maxSkew: {{ $t.maxSkew }}
    topologyKey: {{ $t.topologyKey }}
    whenUnsatisfiable: {{ $t.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "wavecom-notify.componentSelectorLabels" . | nindent 8 }}
{{- end }}
{{- end }}

{{/*
Pod metadata annotations: podAnnotations plus checksums of the settings, so a changed ConfigMap
or Secret rolls the pods.
*/}}
{{- define "wavecom-notify.podAnnotations" -}}
checksum/config: {{ include "wavecom-notify.configData" . | sha256sum }}
{{- if not .Values.secrets.existingSecret }}
checksum/secret: {{ include "wavecom-notify.secretData" . | sha256sum }}
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The /tmp emptyDir: the only writable path of the read-only root file system.
*/}}
{{- define "wavecom-notify.tmpVolume" -}}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end }}

{{/*
A KEDA setting of one channel: the channel's own value, else the keda block's.
Call with (dict "root" $ "worker" $w "key" "value").
*/}}
{{- define "wavecom-notify.kedaValue" -}}
{{- $own := index .worker.keda .key }}
{{- if kindIs "invalid" $own }}{{ index .root.Values.keda .key }}{{ else }}{{ $own }}{{ end }}
{{- end }}

{{/*
The enabled channels, in a fixed order, as a list of names.
*/}}
{{- define "wavecom-notify.channels" -}}
{{- range $ch := list "email" "sms" "push" }}
{{- if (index $.Values.workers $ch).enabled }}
{{ $ch }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Fail rendering when a pod's grace period would not let SHUTDOWN_GRACE_S pass (a scale-down would
kill work in flight instead of draining it). Call with (dict "root" $ "what" "api" "seconds" N).
*/}}
{{- define "wavecom-notify.checkGrace" -}}
{{- if le (float64 .seconds) (float64 .root.Values.config.shutdownGraceS) }}
{{- fail (printf "%s: terminationGracePeriodSeconds (%v) must be longer than config.shutdownGraceS (%v) so that a stopping pod drains its work" .what .seconds .root.Values.config.shutdownGraceS) }}
{{- end }}
{{- end }}

{{/*
Egress rules every component needs: DNS, and RabbitMQ/MongoDB on their ports (to
networkPolicy.backendTo when set, else anywhere).
*/}}
{{/*
The `from` of a metrics port's ingress rule: the monitoring namespace only
(networkPolicy.monitoringNamespace), or nothing (any source) when that is empty.
*/}}
{{- define "wavecom-notify.monitoringFrom" -}}
{{- with .Values.networkPolicy.monitoringNamespace }}
from:
  - namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: {{ . | quote }}
{{- end }}
{{- end }}

{{/*
Egress to the OpenTelemetry collector (tracing.collectorPorts, to tracing.collectorTo), only
while traces are exported (tracing.otlpEndpoint).
*/}}
{{- define "wavecom-notify.egressCollector" -}}
{{- if .Values.tracing.otlpEndpoint }}
# the OpenTelemetry collector (traces)
- ports:
    {{- range .Values.tracing.collectorPorts }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
  {{- with .Values.tracing.collectorTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}

{{- define "wavecom-notify.egressDnsAndBackend" -}}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
- ports:
    {{- range .Values.networkPolicy.backendPorts }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
  {{- with .Values.networkPolicy.backendTo }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/*
The operator's ServiceAccount name: operator.serviceAccount.name, else <fullname>-operator when
the chart creates it, else "default".
*/}}
{{- define "wavecom-notify.operatorServiceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (printf "%s-operator" (include "wavecom-notify.fullname" .) | trunc 63 | trimSuffix "-") .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The namespaces the operator serves: operator.watchNamespaces, else the release's, one a line.
*/}}
{{- define "wavecom-notify.operatorNamespaces" -}}
{{- range (.Values.operator.watchNamespaces | default (list .Release.Namespace)) }}
{{ . }}
{{- end }}
{{- end }}
