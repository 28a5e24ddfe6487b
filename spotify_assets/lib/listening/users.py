"""The user id of a landing folder (Dagster-free).

People name their folder in ``landing/streaming_history/`` as they like: ``alice``, ``José``,
``john doe``, ``名前``. The user id goes into every row (``core.streams.user_id``), into lake
keys and into partition keys, so it must be safe there, and stable: the same folder always
maps to the same id, on any machine.

- A name that is already safe (``^[A-Za-z0-9._@+-]{1,128}$``, other than ``.`` and ``..``)
  is the id, exactly as it is: existing ids never change.
- Any other name becomes a readable ASCII slug plus ``-`` and 8 hex digits of the SHA-256 of
  the name in Unicode NFC form: ``José`` -> ``Jose-<hash>``, ``john doe`` ->
  ``john-doe-<hash>``. The hash keeps apart names whose slugs agree (``José`` and ``Jose``:
  the latter is safe and stays ``Jose``); NFC makes the id the same whether the file system
  spelled ``é`` as one code point or as ``e`` plus an accent (macOS writes the latter). The
  slug is the name with accents removed (NFKD) and every run of other characters turned into
  ``-``, cut at 64 characters; a name with no ASCII letter or digit (``名前``) gets ``user``.
  The id is never empty and always safe.

The original name is the listener's display name; keep it beside the id.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

SAFE_USER_ID = re.compile(r"^[A-Za-z0-9._@+-]{1,128}$")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._@+-]+")
_SLUG_CHARS = 64
_HASH_CHARS = 8


def user_id_for_folder(folder: str) -> str:
    """A safe, stable user id for the landing folder name ``folder`` (module docstring)."""
    if SAFE_USER_ID.match(folder) and folder not in (".", ".."):
        return folder
    name = unicodedata.normalize("NFC", folder)
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = _UNSAFE_RUN.sub("-", ascii_name)[:_SLUG_CHARS].strip("-._")
    if not any(c.isalnum() for c in slug):
        slug = "user"
    return f"{slug}-{digest}"


def is_safe_user_id(user_id: str) -> bool:
    return bool(SAFE_USER_ID.match(user_id)) and user_id not in (".", "..")
