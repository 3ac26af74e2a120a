{{- /*
The kopf operator's Deployment, RBAC and CRD (provider accounts as custom resources) arrive with
the provider-configuration issue: its templates go in this directory and its CRD in the chart's
crds/. `operator.enabled` is the switch reserved for them; the schema keeps it false until then.
*/ -}}
