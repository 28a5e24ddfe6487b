"""``python -m spotify_assets.auth [USER]``: get a refresh token for live mode, once per user.

Spotify returns playlist items and recently-played only with a *user* token. This runs the
authorization-code flow in a terminal: open the printed URL (logged in to Spotify as that
user), approve, paste the address the browser was sent to, and set the variable it prints:

- without USER: ``SPOTIFY_REFRESH_TOKEN``, the playlists' owner (or a collaborator);
- with USER (``python -m spotify_assets.auth alice``): ``SPOTIFY_REFRESH_TOKEN_ALICE``, whose
  recently-played is then polled into ``core.streams`` as user ``alice`` (name the user's
  export folder in the landing zone the same, so the two sources merge).

A development-mode app allows five users, each added under "User Management" at
developer.spotify.com. Since 2026 a refresh token expires six months after authorization
(``invalid_grant``): run this again for the user the error names. The redirect URI must be
registered on the app (default ``http://127.0.0.1:8888/callback``; Spotify no longer accepts
``localhost``).
"""

from __future__ import annotations

import os
import sys

import spotipy
from spotipy.cache_handler import MemoryCacheHandler

SCOPES = "playlist-read-private playlist-read-collaborative user-read-recently-played"


def variable_for(user: str | None) -> str:
    """The environment variable the printed token goes into."""
    if not user:
        return "SPOTIFY_REFRESH_TOKEN"
    from spotify_assets.lib.listening.recently_played import refresh_token_variable

    return refresh_token_variable(user)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0].startswith("-")):
        print(__doc__, file=sys.stderr)
        return 2
    user = args[0].strip().lower() if args else None
    client_id = os.environ.get("SPOTIPY_CLIENT_ID")
    client_secret = os.environ.get("SPOTIPY_CLIENT_SECRET")
    if not client_id or not client_secret:
        print("Set SPOTIPY_CLIENT_ID and SPOTIPY_CLIENT_SECRET first.", file=sys.stderr)
        return 2
    auth = spotipy.SpotifyOAuth(
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=os.environ.get("SPOTIPY_REDIRECT_URI", "http://127.0.0.1:8888/callback"),
        scope=SCOPES,
        open_browser=False,
        cache_handler=MemoryCacheHandler(),
        requests_timeout=10,
    )
    who = f" logged in to Spotify as {user}" if user else ""
    print(f"1. Open this URL{who} and approve access:\n\n   " + auth.get_authorize_url() + "\n")
    response = input("2. Paste the full address your browser was redirected to: ").strip()
    code = auth.parse_response_code(response)
    token = auth.get_access_token(code, as_dict=True, check_cache=False)
    print("\n3. Add this to your environment (keep it secret):\n")
    print(f"   export {variable_for(user)}={token['refresh_token']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
