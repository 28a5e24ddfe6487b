"""The sample world (:mod:`.world`, a deterministic generator of catalog, playlists and export
files) and the local fake Spotify Web API that serves it (:mod:`.fake_api`)."""
