"""/api/admin: operator views over all tenants."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from wavecom.api.deps import SettingsDep, StoreDep
from wavecom.api.responses import OrjsonResponse
from wavecom.reconcile import reconcile

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.get("/reconcile", summary="Prove that every accepted notification is accounted for")
async def reconcile_now(
    store: StoreDep,
    settings: SettingsDep,
    stuck_after_s: Annotated[float, Query(alias="stuckAfterS", gt=0, le=86_400)] = 300.0,
) -> OrjsonResponse:
    """Per tenant and channel: accepted = sent + failed + cancelled + in flight, computed
    from the documents; counters that differ from them; notifications not final and
    untouched for `stuckAfterS`. The figures are exported as metrics too."""
    report = await reconcile(store, stuck_after_s=stuck_after_s, ledger_dir=settings.ledger_dir)
    data: dict[str, Any] = report.as_dict()
    return OrjsonResponse({"success": True, "data": data})
