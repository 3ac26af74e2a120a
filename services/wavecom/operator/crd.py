"""The NotificationProvider CustomResourceDefinition, as data.

The schema mirrors :class:`wavecom.providers.accounts.AccountSpec` (enums, bounds and defaults are
read from it), so ``kubectl apply`` refuses what the operator would refuse for its shape: a wrong
channel or driver, a negative rate, a missing ``channel``. What only the driver can judge
(``settings``, the Secret's keys) is checked by the operator and reported in the conditions.

``python -m wavecom.operator crd`` prints it as YAML; the chart ships that output in
``charts/wavecom-notify/crds/`` (a test keeps the two equal).
"""

from __future__ import annotations

import typing
from typing import Any

import yaml  # type: ignore[import-untyped]
from pydantic.fields import FieldInfo

from wavecom.core.constants import Channel
from wavecom.providers.accounts import NAME, AccountSpec, Driver

GROUP = "notify.wavecom.io"
VERSION = "v1alpha1"
KIND = "NotificationProvider"
PLURAL = "notificationproviders"
SINGULAR = "notificationprovider"
SHORT_NAMES = ["nprov"]
NAME_ = f"{PLURAL}.{GROUP}"
TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


def _bound(field: FieldInfo, kind: str) -> Any:
    for m in field.metadata:
        if hasattr(m, kind):
            return getattr(m, kind)
    return None


def _spec_schema() -> dict[str, Any]:
    f = AccountSpec.model_fields
    priority, rate, timeout = f["priority"], f["send_rate_per_second"], f["timeout_seconds"]
    return {
        "type": "object",
        "description": "The provider account: what the admin CLI takes as the same YAML.",
        "required": ["channel", "driver"],
        "properties": {
            "channel": {
                "type": "string",
                "enum": [c.value for c in Channel],
                "description": "The channel this account delivers.",
            },
            "driver": {
                "type": "string",
                "enum": list(typing.get_args(Driver)),
                "description": "The provider adapter (mock, smtp, twilio, fcm, webhook).",
            },
            "priority": {
                "type": "integer",
                "minimum": _bound(priority, "ge"),
                "maximum": _bound(priority, "le"),
                "default": priority.default,
                "description": "Failover order within the channel: lower is tried first.",
            },
            "enabled": {
                "type": "boolean",
                "default": f["enabled"].default,
                "description": "A disabled account gets no new sends.",
            },
            "sendRatePerSecond": {
                "type": "number",
                "minimum": _bound(rate, "ge"),
                "maximum": _bound(rate, "le"),
                "default": rate.default,
                "description": "Sends a second this account may make; 0: no cap.",
            },
            "timeoutSeconds": {
                "type": "number",
                "minimum": _bound(timeout, "gt"),
                "exclusiveMinimum": True,
                "maximum": _bound(timeout, "le"),
                "default": timeout.default,
                "description": "Timeout of one send.",
            },
            "settings": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "description": "The driver's settings (see the driver); never secrets.",
            },
            "credentialsSecretRef": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 253,
                        "description": "A Secret in the resource's namespace; its keys are "
                        "the driver's credentials.",
                    }
                },
                "description": "Where the credentials are; changes of that Secret re-apply.",
            },
            "tenants": {
                "type": "array",
                "x-kubernetes-list-type": "set",
                "items": {"type": "string", "pattern": TENANT_PATTERN},
                "description": "Reserve the account for these tenants (they use it first, "
                "nobody else uses it); empty: shared by every tenant.",
            },
        },
    }


def _condition_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", "status"],
        "properties": {
            "type": {"type": "string"},
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "reason": {"type": "string"},
            "message": {"type": "string"},
            "observedGeneration": {"type": "integer", "format": "int64"},
            "lastTransitionTime": {"type": "string", "format": "date-time"},
        },
    }


def definition() -> dict[str, Any]:
    """The CustomResourceDefinition of NotificationProvider."""
    ready = '.status.conditions[?(@.type=="Ready")]'
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": NAME_},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": SHORT_NAMES,
                "categories": ["wavecom"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Channel", "type": "string", "jsonPath": ".spec.channel"},
                        {"name": "Driver", "type": "string", "jsonPath": ".spec.driver"},
                        {"name": "Priority", "type": "integer", "jsonPath": ".spec.priority"},
                        {"name": "Ready", "type": "string", "jsonPath": f"{ready}.status"},
                        {
                            "name": "Reason",
                            "type": "string",
                            "jsonPath": f"{ready}.reason",
                            "priority": 1,
                        },
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "A provider account of WaveCom Notify.",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {
                                    "type": "object",
                                    "properties": {
                                        # the account's name: a DNS label
                                        "name": {
                                            "type": "string",
                                            "maxLength": 63,
                                            "pattern": f"^{NAME.pattern}$",
                                        }
                                    },
                                },
                                "spec": _spec_schema(),
                                "status": {
                                    "type": "object",
                                    "properties": {
                                        "observedGeneration": {
                                            "type": "integer",
                                            "format": "int64",
                                        },
                                        "accountRevision": {
                                            "type": "integer",
                                            "format": "int64",
                                            "description": "The stored account's revision.",
                                        },
                                        "conditions": {
                                            "type": "array",
                                            "x-kubernetes-list-type": "map",
                                            "x-kubernetes-list-map-keys": ["type"],
                                            "items": _condition_schema(),
                                        },
                                    },
                                },
                            },
                        }
                    },
                }
            ],
        },
    }


HEADER = (
    "# Generated by `python -m wavecom.operator crd` from services/wavecom/operator/crd.py:\n"
    "# do not edit (a test keeps this file equal to the generated one).\n"
)


def as_yaml() -> str:
    """The CRD as the YAML file the chart ships."""
    text: str = yaml.safe_dump(definition(), sort_keys=False, width=100)
    return HEADER + text
