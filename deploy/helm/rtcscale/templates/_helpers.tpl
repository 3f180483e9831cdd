{{/* The name of every object, cluster-scoped ones included. */}}
{{- define "rtcscale.fullname" -}}
{{- .Values.fullnameOverride | default "rtcscale-adapter" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "rtcscale.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rtcscale.fullname" . }}
{{- end -}}

{{/*
The pod template's labels: none that names the chart's version (or its
appVersion, which the image tag may not follow), since a changed label
changes the template and rolls every replica for nothing.
*/}}
{{- define "rtcscale.podLabels" -}}
{{ include "rtcscale.selectorLabels" . }}
app.kubernetes.io/part-of: rtcscale
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "rtcscale.labels" -}}
{{ include "rtcscale.podLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The Secret holding the serving certificate (tls.crt, tls.key). */}}
{{- define "rtcscale.tlsSecret" -}}
{{- if eq .Values.tls.mode "secret" -}}
{{- required "tls.secretName is required with tls.mode=secret" .Values.tls.secretName -}}
{{- else -}}
{{- include "rtcscale.fullname" . }}-tls
{{- end -}}
{{- end -}}

{{- define "rtcscale.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/*
The serving certificate's CA for tls.mode=generate, as a dict with Cert, Key
and CA (PEM). The release's Secret, when the cluster holds one with all
three keys, is kept (lookup), so that neither an upgrade nor a re-render
against the cluster rotates the certificate under running HPAs or shows a
change; otherwise a new CA signs a certificate for the Service's DNS names.
Without a cluster (`helm template`, GitOps tools that render with it) lookup
finds nothing and the certificate is new every time: use tls.mode
certManager or secret there. Computed once per render and cached in .Values
so that the Secret and every APIService agree.
*/}}
{{- define "rtcscale.generatedCert" -}}
{{- if not (hasKey .Values "_generatedCert") -}}
{{- $name := printf "%s-tls" (include "rtcscale.fullname" .) -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $name -}}
{{- $cert := dict -}}
{{- $data := dig "data" dict $existing -}}
{{- if and (index $data "ca.crt") (index $data "tls.crt") (index $data "tls.key") -}}
{{- $_ := set $cert "CA" (index $data "ca.crt" | b64dec) -}}
{{- $_ := set $cert "Cert" (index $data "tls.crt" | b64dec) -}}
{{- $_ := set $cert "Key" (index $data "tls.key" | b64dec) -}}
{{- else -}}
{{- $svc := include "rtcscale.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- $ca := genCA (printf "%s-ca" $svc) (int .Values.tls.validityDays) -}}
{{- $dns := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) -}}
{{- $leaf := genSignedCert (printf "%s.%s.svc" $svc $ns) nil $dns (int .Values.tls.validityDays) $ca -}}
{{- $_ := set $cert "CA" $ca.Cert -}}
{{- $_ := set $cert "Cert" $leaf.Cert -}}
{{- $_ := set $cert "Key" $leaf.Key -}}
{{- end -}}
{{- $_ := set .Values "_generatedCert" $cert -}}
{{- end -}}
{{- end -}}

{{/* The base64 caBundle of the APIServices, empty with cert-manager. */}}
{{- define "rtcscale.caBundle" -}}
{{- if eq .Values.tls.mode "generate" -}}
{{- include "rtcscale.generatedCert" . -}}
{{- .Values._generatedCert.CA | b64enc -}}
{{- else if eq .Values.tls.mode "secret" -}}
{{- required "tls.caBundle (base64 PEM of the CA that signed tls.secretName) is required with tls.mode=secret" .Values.tls.caBundle -}}
{{- end -}}
{{- end -}}

{{/*
The NATS permissions the adapter's user needs with these values, no more, as
JSON {"publish": [...], "subscribe": [...]}: the samples; with forecasts, the
JetStream API of the history stream (its info, create, update; an ordered
consumer, named and unfiltered, its pull requests and its deletion on a
reset) and the history subjects; with a warm restart, the same API of that
stream (its consumer filters on the samples); and the inboxes replies arrive
on. predictor.StoreConfig.Permissions says why each; deploy's
TestNATSPermissions checks this against it.
*/}}
{{- define "rtcscale.natsPermissions" -}}
{{- $api := "$JS.API." -}}
{{- $pub := list -}}
{{- $sub := list (printf "%s.>" .Values.nats.subjectPrefix) -}}
{{- with .Values.forecast -}}
{{- if .enabled -}}
{{- $s := .historyStream | default "RTCSCALE_HISTORY" -}}
{{- $pub = concat $pub (list
  (print $api "STREAM.INFO." $s) (print $api "STREAM.CREATE." $s) (print $api "STREAM.UPDATE." $s)
  (print $api "CONSUMER.CREATE." $s ".*") (print $api "CONSUMER.MSG.NEXT." $s ".*") (print $api "CONSUMER.DELETE." $s ".*")
  (printf "%s.>" (.historySubject | default "rtcscale.history.v1"))) -}}
{{- end -}}
{{- end -}}
{{- with .Values.warmRestart.stream -}}
{{- $pub = concat $pub (list
  (print $api "STREAM.INFO." .) (print $api "STREAM.CREATE." .) (print $api "STREAM.UPDATE." .)
  (print $api "CONSUMER.CREATE." . ".*." $.Values.nats.subjectPrefix ".>") (print $api "CONSUMER.MSG.NEXT." . ".*") (print $api "CONSUMER.DELETE." . ".*")) -}}
{{- end -}}
{{- if $pub -}}
{{- $sub = append $sub "_INBOX.>" -}}
{{- end -}}
{{- dict "publish" $pub "subscribe" $sub | toJson -}}
{{- end -}}

{{/* Whether rtcscale serves external.metrics.k8s.io: not when KEDA owns it. */}}
{{- define "rtcscale.externalMetrics" -}}
{{- if and .Values.apiService.external (not .Values.kedaScaler.enabled) }}true{{ end -}}
{{- end -}}
