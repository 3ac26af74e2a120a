"""Leases: one holder at a time of a named job (the sweeper), one document each."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from wavecom.core.errors import StoreUnavailable
from wavecom.store.documents import Doc, utcnow

log = logging.getLogger("wavecom.store.leases")


class Lease:
    """One holder at a time of a named job, by one document of the ``leases`` collection."""

    def __init__(self, collection: AsyncCollection[Doc], name: str, ttl_s: float) -> None:
        self.collection = collection
        self.name = name
        self.ttl = timedelta(seconds=ttl_s)
        self.owner = uuid.uuid4().hex  # this process

    async def hold(self) -> bool:
        """Take the lease if it expired (or never existed), renew it if it is ours; True if
        this process holds it now.

        A conditional ``find_one_and_update`` (no upsert: FerretDB v2 answers a conflicting
        upsert with an internal error, not a duplicate key), then, for a lease that does not
        exist yet, a unique insert that only one process wins.
        """
        now = utcnow()
        held = {"owner": self.owner, "expiresAt": now + self.ttl, "renewedAt": now}
        try:
            if await self.collection.find_one_and_update(
                {"_id": self.name, "$or": [{"owner": self.owner}, {"expiresAt": {"$lte": now}}]},
                {"$set": held},
            ):
                return True
            try:
                await self.collection.insert_one({"_id": self.name, **held})
            except DuplicateKeyError:
                return False  # another process holds it until it expires
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not take the {self.name} lease: {exc}") from exc
        return True

    async def release(self) -> None:
        """Let another process take over at once (on shutdown)."""
        try:
            await self.collection.update_one(
                {"_id": self.name, "owner": self.owner}, {"$set": {"expiresAt": utcnow()}}
            )
        except PyMongoError as exc:
            log.warning("could not release the %s lease (it expires by itself): %s", self.name, exc)


class Leases:
    """The ``leases`` collection."""

    def __init__(self, collection: AsyncCollection[Doc]) -> None:
        self.collection = collection

    def lease(self, name: str, ttl_s: float) -> Lease:
        """This process's handle on the lease ``name``, held ``ttl_s`` per renewal."""
        return Lease(self.collection, name, ttl_s)
