"""What the repository generates from its product sources and keeps committed.

- ``generators.dashboards``: dashboards/grafana/*.json (``make dashboards``);
- ``generators.charts``: the chart's README values table and values.schema.json descriptions
  (both from values.yaml's ``# --`` comments), its copies of the dashboards and alert rules, the
  operator's CRD and keda/scaledobjects.yaml (``make charts``).

Each has ``--check``; tests/charts/test_values_docs.py and tests/observability/test_dashboards.py
fail while a committed file differs from what its generator makes. Not part of the image: the
Dockerfile copies only services/wavecom.
"""
