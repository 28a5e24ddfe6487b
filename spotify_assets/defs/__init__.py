"""Definitions by domain. Every module here registers its own assets, checks, jobs,
schedules and sensors; ``spotify_assets.definitions`` loads the folder."""
