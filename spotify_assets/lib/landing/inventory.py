"""Everything in a zone, accounted for: one row per landed object (and per member of an
archive that was not taken), with its status and the reason."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from spotify_assets.lib.lake import REGULAR, LakeError, LakeStore
from spotify_assets.lib.landing.ingest import not_regular_reason, read_manifest
from spotify_assets.lib.landing.processed import MANIFEST_SUFFIX, failing_checks
from spotify_assets.lib.landing.scan import classify
from spotify_assets.lib.landing.zone import LandingZone

#: Where versions before 2026-12 moved unreadable files (``landing/_rejected/<zone>/``); what
#: is still there is listed, as rejected, with its reason file.
SET_ASIDE_ROOT = "landing/_rejected/"

INVENTORY_COLUMNS = (
    "zone", "key", "member", "listener", "status", "reason", "records", "accepted", "rejected",
)  # fmt: skip

#: Every status a landed object can have, in the order a person should look at them.
STATUSES = ("failed", "held", "rejected", "pending", "not_ingested", "ignored", "accepted")


def inventory(
    store: LakeStore, zone: LandingZone, *, now: datetime | None = None, settle_s: float = 0
) -> list[dict[str, Any]]:
    """One row per landed object (and per member of an archive that was not taken):
    ``accepted``; ``held`` (accepted, but failing a blocking check: its rows stay out of the
    core tables until it is fixed or removed); ``not_ingested`` (not this zone's data, a link
    or special file, too large); ``rejected`` (unreadable); ``failed`` (the parser crashed);
    ``pending`` (landed, not processed yet; still changing when modified less than
    ``settle_s`` before ``now``); ``ignored`` (a partial download or hidden file)."""
    rows: list[dict[str, Any]] = []
    now = now or datetime.now(UTC)

    def row(key: str, status: str, **kw: Any) -> dict[str, Any]:
        base = dict.fromkeys(INVENTORY_COLUMNS)
        return {**base, "zone": zone.name, "key": key, "status": status, **kw}

    manifests = {
        o.key[len(zone.processed_prefix) : -len(MANIFEST_SUFFIX)]
        for o in store.list(zone.processed_prefix)
        if o.key.endswith(MANIFEST_SUFFIX)
    }
    blocking = zone.blocking_checks
    for obj in store.list(zone.landing_prefix):
        verdict = classify(zone, obj)
        path = obj.key[len(zone.landing_prefix) :]
        if verdict is None:
            rows.append(row(obj.key, "ignored", reason="hidden or partial file"))
            continue
        if isinstance(verdict, str):
            rows.append(row(obj.key, "not_ingested", reason=verdict))
            continue
        listener = zone.context(path).listener
        if obj.kind != REGULAR:
            reason = not_regular_reason(obj)
            rows.append(row(obj.key, "not_ingested", listener=listener, reason=reason))
            continue
        manifest = read_manifest(store, zone, path) if path in manifests else {}
        status = manifest.get("status")
        if not status:
            age = (now - obj.last_modified).total_seconds()
            reason = (
                f"still changing (modified {age:.0f} s ago): taken once it has not changed for "
                f"{settle_s:g} s"
                if age < settle_s
                else "landed, not processed yet"
            )
            rows.append(row(obj.key, "pending", listener=listener, reason=reason))
            continue
        reason = manifest.get("reason")
        if status == "accepted" and (failing := failing_checks(manifest, blocking)):
            status = "held"
            reason = "held out of the core tables until fixed or removed: fails " + ", ".join(
                f"{check} ({detail})" for check, detail in failing.items()
            )
        rows.append(
            row(
                obj.key,
                status,
                listener=listener,
                reason=reason,
                records=manifest.get("records"),
                accepted=manifest.get("accepted"),
                rejected=manifest.get("rejected"),
            )
        )
        for member in manifest.get("not_ingested") or []:
            rows.append(
                row(
                    obj.key,
                    "not_ingested",
                    member=member.get("name"),
                    listener=listener,
                    reason=member.get("reason"),
                )
            )
    rows += _set_aside(store, zone, row)
    return rows


def _set_aside(store: LakeStore, zone: LandingZone, row: Any) -> list[dict[str, Any]]:
    """Files an earlier version moved to ``landing/_rejected/<zone>/``, with their reason."""
    prefix = f"{SET_ASIDE_ROOT}{zone.name}/"
    out = []
    for obj in store.list(prefix):
        if obj.key.endswith(".reason.txt"):
            continue
        try:
            reason = store.get_bytes(obj.key + ".reason.txt").decode("utf-8", "replace").strip()
        except LakeError:
            reason = "moved aside (no reason file)"
        listener = zone.context(obj.key[len(prefix) :]).listener
        out.append(row(obj.key, "rejected", listener=listener, reason=reason))
    return out


#: The columns of the table of a landed-files inventory (``core.landing_files``).
INVENTORY_TYPES = {
    "zone": "varchar", "key": "varchar", "member": "varchar", "listener": "varchar",
    "status": "varchar", "reason": "varchar", "records": "bigint", "accepted": "bigint",
    "rejected": "bigint",
}  # fmt: skip


def inventory_table(conn: Any, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """A warehouse table of :func:`inventory` rows (every zone's, for ``core.landing_files``)."""
    import pyarrow as pa

    cols = ", ".join(f"{name} {kind}" for name, kind in INVENTORY_TYPES.items())
    conn.execute(f"create or replace table {table} ({cols})")
    if rows:
        # One Arrow table, not executemany: DuckDB runs an insert per row (1.5-2.7 ms each: 69 s
        # for a year of daily charts, 25,550 files); from Arrow it is one scan.
        types = {"varchar": pa.string(), "bigint": pa.int64()}
        batch = pa.table(
            {
                name: pa.array([r.get(name) for r in rows], type=types[kind])
                for name, kind in INVENTORY_TYPES.items()
            }
        )
        conn.register("_inventory_rows", batch)
        try:
            conn.execute(f"insert into {table} select * from _inventory_rows")
        finally:
            conn.unregister("_inventory_rows")
