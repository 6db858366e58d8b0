#!/bin/sh
# Prints the PrometheusRule of the kustomize base, made from dashboards/alerts.yaml (the one
# source of ferry's alert rules). After editing the rules:
#   deploy/kubernetes/prometheusrule.sh > deploy/kubernetes/prometheusrule.yaml
# tests/deploy/kubernetes.sh fails while the committed file differs from this output.
set -eu
rules="$(cd "$(dirname "$0")/../../dashboards" && pwd)/alerts.yaml"
cat <<'HEAD'
# GENERATED from dashboards/alerts.yaml by deploy/kubernetes/prometheusrule.sh: do not edit here.
# ferry's alert rules for the Prometheus Operator; runbooks in dashboards/README.md. A Prometheus
# loads the PrometheusRules its ruleSelector and ruleNamespaceSelector match: add the labels
# yours selects in an overlay (kube-prometheus-stack: `release: <its release name>`). FerryDown
# and FerryFileDescriptorsNearLimit match job="ferry": the ServiceMonitor takes the job name from
# the metrics Service's app.kubernetes.io/name label (jobLabel), which is ferry.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: ferry
  labels:
    app.kubernetes.io/name: ferry
spec:
HEAD
sed -n '/^groups:/,$p' "$rules" | sed 's/^\(.\)/  \1/'
