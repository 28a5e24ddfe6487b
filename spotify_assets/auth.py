"""``python -m spotify_assets.auth``: get a refresh token for live mode, once.

Spotify returns playlist items (and recently-played) only with a *user* token of the
playlists' owner (or a collaborator). This runs the authorization-code flow in a terminal:
open the printed URL, approve, paste the address the browser was sent to, and put the printed
refresh token into ``SPOTIFY_REFRESH_TOKEN``. The redirect URI must be registered on the app
at developer.spotify.com (default ``http://127.0.0.1:8888/callback``; Spotify no longer
accepts ``localhost``).
"""

from __future__ import annotations

import os
import sys

import spotipy
from spotipy.cache_handler import MemoryCacheHandler

SCOPES = "playlist-read-private playlist-read-collaborative user-read-recently-played"


def main() -> int:
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
    print("1. Open this URL and approve access:\n\n   " + auth.get_authorize_url() + "\n")
    response = input("2. Paste the full address your browser was redirected to: ").strip()
    code = auth.parse_response_code(response)
    token = auth.get_access_token(code, as_dict=True, check_cache=False)
    print("\n3. Add this to your environment (keep it secret):\n")
    print(f"   export SPOTIFY_REFRESH_TOKEN={token['refresh_token']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
