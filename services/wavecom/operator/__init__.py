"""The kopf operator: NotificationProvider resources (``notify.wavecom.io/v1alpha1``) become
provider accounts, through the same :func:`wavecom.providers.accounts.apply` the admin CLI uses.

- :mod:`.crd` the CustomResourceDefinition as data (``python -m wavecom.operator crd``);
- :mod:`.conditions` ``status.conditions`` (kopf has none built in);
- :mod:`.kube` the two API calls kopf does not make for us (read a Secret, annotate a resource);
- :mod:`.handlers` the kopf handlers, plain typed functions tests call directly;
- ``__main__`` runs it standalone (``python -m wavecom.operator``).
"""
