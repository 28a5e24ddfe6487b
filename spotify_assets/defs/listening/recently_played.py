"""``raw/recently_played``: every authorized user's recently-played, polled on a sensor.

Each run polls every user once (``spotify_assets.lib.listening.recently_played``): raw bodies,
plays as Parquet and the per-user cursor go to the lake; ``core/streams`` takes the Parquet
files in and drops the polled plays that an export also has. A user whose token died (expired
refresh token, app owner without Premium) is reported in the metadata with what to do, the
other users are polled anyway, and the run fails at the end so the run-failure alert reports
it.

Users: ``SPOTIFY_REFRESH_TOKEN_<USER>`` variables in live mode (``python -m
spotify_assets.auth <user>`` prints the one to set); every sample listener in sample mode.
"""

from datetime import UTC, datetime

import dagster as dg

from spotify_assets.lib.listening.recently_played import (
    PROCESSED_PREFIX,
    RAW_PREFIX,
    poll_users,
    summarize,
)
from spotify_assets.resources import LakeResource, SpotifyResource
from spotify_assets.settings import load_settings

RECENTLY_PLAYED_KEY = dg.AssetKey(["raw", "recently_played"])
#: Users a development-mode app may authorize (2026).
DEVELOPMENT_MODE_USERS = 5


@dg.asset(
    key=RECENTLY_PLAYED_KEY,
    group_name="listening",
    kinds={"json", "parquet", "s3"},
    check_specs=[
        dg.AssetCheckSpec(
            "every_user_polled",
            asset=RECENTLY_PLAYED_KEY,
            blocking=True,
            description="Every authorized user could be polled (a dead refresh token or an app "
            "owner without Premium fails it, naming the user and what to do)",
        )
    ],
    description=(
        "Each authorized user's recently-played since their cursor: raw bodies in "
        f"{RAW_PREFIX}<user>/, plays (streams schema, source_format recently_played) in "
        f"{PROCESSED_PREFIX}<user>/. 50 plays per call at most, and Spotify keeps no more: "
        "a user who plays more than 50 tracks between two polls loses the oldest (flagged as "
        "possible_gap)."
    ),
)
def recently_played(
    context: dg.AssetExecutionContext, spotify: SpotifyResource, lake: LakeResource
) -> dg.MaterializeResult:
    users = spotify.polled_users()
    if spotify.source == "live" and len(users) > DEVELOPMENT_MODE_USERS:
        context.log.warning(
            f"{len(users)} users have a refresh token; a development-mode app allows "
            f"{DEVELOPMENT_MODE_USERS} (the others' calls will be refused)"
        )
    at = datetime.now(UTC)
    with spotify.user_clients(users, log=context.log) as clients:
        results = poll_users(lake.store(), clients, at=at, log=context.log)
    summary = summarize(results)
    metadata = {
        "users_polled": summary["users_polled"],
        "plays_new": summary["plays_new"],
        "users_failed": dg.MetadataValue.json(summary["users_failed"]),
        "users_possible_gap": dg.MetadataValue.json(summary["users_possible_gap"]),
        "per_user": dg.MetadataValue.json(summary["per_user"]),
    }
    failed = [r for r in results if r.failed]
    # A blocking check that fails after the materialization is recorded: the plays of the
    # other users are kept, and the run fails at the end, so the alert sensors name the users
    # and what to do.
    others = (
        " (every user failed)"
        if len(failed) == len(results)
        else f" (the other {len(results) - len(failed)} were polled)"
    )
    check = dg.AssetCheckResult(
        check_name="every_user_polled",
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR,
        description="recently-played polling failed for "
        + ", ".join(r.user_id for r in failed)
        + others
        + ":\n"
        + "\n".join(f"- {r.error}" for r in failed)
        if failed
        else None,
        metadata={"users_failed": dg.MetadataValue.json([r.user_id for r in failed])},
    )
    return dg.MaterializeResult(metadata=metadata, check_results=[check])


recently_played_job = dg.define_asset_job(
    "recently_played_job",
    selection=dg.AssetSelection.assets(RECENTLY_PLAYED_KEY),
    description="Poll every authorized user's recently-played once.",
)


def _interval_s() -> int:
    return 60 * load_settings().recently_played_minutes


@dg.sensor(
    name="recently_played_sensor",
    job=recently_played_job,
    minimum_interval_seconds=_interval_s(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Polls recently-played every SPOTIFY_RECENTLY_PLAYED_MINUTES (30): 50 plays per call "
        "are ~2.5 h of continuous listening, so 30 minutes leaves a wide margin; a poll still "
        "running is not doubled."
    ),
)
def recently_played_sensor(context: dg.SensorEvaluationContext):
    runs = context.instance.get_runs(
        filters=dg.RunsFilter(
            job_name=recently_played_job.name,
            statuses=[
                dg.DagsterRunStatus.QUEUED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
            ],
        ),
        limit=1,
    )
    if runs:
        return dg.SkipReason(f"poll {runs[0].run_id} is still running")
    return dg.RunRequest()
