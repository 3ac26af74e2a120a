"""What the image tests share."""

from __future__ import annotations

# the chart's securityContext: readOnlyRootFilesystem, an emptyDir on /tmp and nothing else
READ_ONLY = ["--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp"]  # noqa: S108
