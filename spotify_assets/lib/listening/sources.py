"""Where a row of ``core.streams`` comes from: its ``source_format`` values, in one place
(Dagster-free, no imports: every listening module and the marts read them)."""

from __future__ import annotations

#: Spotify's own: the Extended Streaming History, the account-data history, polling.
SPOTIFY_FORMATS: tuple[str, ...] = ("extended", "account_data", "recently_played")
#: Other services' scrobbles (:mod:`spotify_assets.lib.listening.scrobble_files`).
SCROBBLE_FORMATS: tuple[str, ...] = ("lastfm", "listenbrainz")
#: Rows without a Spotify URI in the file: their play key is their names, never an id
#: resolved later (so resolving one never changes its key).
NAME_KEYED_FORMATS: tuple[str, ...] = ("account_data", *SCROBBLE_FORMATS)


def sql_list(values: tuple[str, ...]) -> str:
    """``('a', 'b')`` for SQL ``in``."""
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"
