"""Spotify micro-genres -> about a dozen genre families, by documented, ordered keyword rules.

Spotify tags artists (never tracks) with thousands of micro-genres ("atl hip hop", "modern rock",
"dance pop", "trap latino", ...). KPIs need a handful of families, so every genre is mapped by
the first rule below whose keywords match it. Keywords match whole words or hyphenated parts
(so "pop" matches "k-pop" and "dance pop" but not "popcorn"); a few keywords are prefixes
(marked ``\\w*``). The order settles ambiguity, and is the documentation of the mapping:

1. ``asian pop``: k-pop, j-pop, c-pop, mandopop, cantopop, j-rock, anime, idol... (before pop
   and rock, so "k-pop" is not plain pop);
2. ``latin``: reggaeton, latin, trap latino, urbano, corridos, banda, bachata, salsa, cumbia,
   sertanejo, funk carioca, musica mexicana... (before hip hop and pop: "latin hip hop",
   "latin pop" are latin);
3. ``metal``: metal*, metalcore, deathcore, djent, thrash, grindcore... (before rock and hip
   hop: "rap metal" is metal);
4. ``hip hop/r&b``: hip hop, rap, trap, drill, grime, r&b, soul, funk, boom bap, urban
   contemporary... (before country and pop: "country rap", "pop rap" are hip hop);
5. ``country``: country, americana, bluegrass, honky tonk, red dirt... ("country rock" is
   country);
6. ``electronic``: edm, house, techno, trance, dubstep, drum and bass, electro, electronica,
   big room, future bass, hardstyle, ambient, downtempo, lo-fi beats... ("pop edm" is electronic);
7. ``jazz/blues``: jazz, blues, bebop, swing, big band, bossa nova...;
8. ``classical``: classical, orchestra*, baroque, opera, choral, soundtrack, score...;
9. ``folk/acoustic``: folk, acoustic, singer-songwriter, stomp and holler, celtic...
   ("indie folk", "folk rock" are folk);
10. ``rock``: rock, punk, grunge, emo, shoegaze, new wave, britpop... ("pop rock", "pop punk"
    are rock);
11. ``world``: reggae, dancehall, afrobeats, afropop, amapiano, highlife, bhangra, filmi,
    desi, arabic, turkish, fado, flamenco, soca...;
12. ``pop``: pop, *pop (synthpop, electropop...), dance, boy band, girl group, europop,
    schlager, adult standards, easy listening...;
13. ``rock`` again for what is left of indie and alternative ("indie", "alternative" alone);
14. anything else, empty or null: ``other``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
else:
    from spotify_assets.lib.lazy import pandas as pd

GENRE_FAMILIES: tuple[str, ...] = (
    "hip hop/r&b",
    "rock",
    "pop",
    "latin",
    "country",
    "electronic",
    "jazz/blues",
    "classical",
    "metal",
    "folk/acoustic",
    "asian pop",
    "world",
    "other",
)

# (family, keywords). Keywords are regular-expression fragments matched between word
# boundaries, on the lower-cased genre name with "-" treated as a separator.
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "asian pop",
        (
            r"k-pop",
            r"k-rap",
            r"k-indie",
            r"k-rock",
            r"j-pop",
            r"j-rock",
            r"j-rap",
            r"j-idol",
            r"c-pop",
            r"v-pop",
            r"t-pop",
            r"mandopop",
            r"cantopop",
            r"anime",
            r"idol",
            r"city pop",
            r"japanese \w+",
            r"korean \w+",
            r"chinese \w+",
            r"thai pop",
            r"opm",
            r"p-pop",
        ),
    ),
    (
        "latin",
        (
            r"reggaeton",
            r"latin\w*",
            r"trap latino",
            r"urbano",
            r"corridos?",
            r"corrido",
            r"tumbados",
            r"banda",
            r"norteno",
            r"sierreno",
            r"mariachi",
            r"ranchera",
            r"grupera",
            r"tejano",
            r"bachata",
            r"salsa",
            r"merengue",
            r"cumbia\w*",
            r"vallenato",
            r"sertanejo\w*",
            r"funk carioca",
            r"pagode",
            r"forro",
            r"mpb",
            r"musica \w+",
            r"regional mexican",
            r"mexican \w+",
            r"dembow",
            r"bolero",
        ),
    ),
    (
        "metal",
        (
            r"metal\w*",
            r"deathcore",
            r"djent",
            r"thrash",
            r"grindcore",
            r"doom",
            r"black metal",
            r"nu metal",
            r"screamo",
            r"mathcore",
        ),
    ),
    (
        "hip hop/r&b",
        (
            r"hip hop",
            r"hip-hop",
            r"rap",
            r"trap",
            r"drill",
            r"grime",
            r"r&b",
            r"rnb",
            r"soul",
            r"funk",
            r"boom bap",
            r"urban contemporary",
            r"new jack swing",
            r"crunk",
            r"plugg",
            r"phonk",
            r"g-funk",
            r"hyphy",
            r"bounce",
            r"gospel",
        ),
    ),
    (
        "country",
        (
            r"country",
            r"americana",
            r"bluegrass",
            r"honky tonk",
            r"red dirt",
            r"outlaw \w+",
            r"western swing",
            r"nashville \w+",
        ),
    ),
    (
        "electronic",
        (
            r"edm",
            r"house",
            r"techno",
            r"trance",
            r"dubstep",
            r"brostep",
            r"drum and bass",
            r"dnb",
            r"electro",
            r"electronic\w*",
            r"electronica",
            r"big room",
            r"future bass",
            r"hardstyle",
            r"ambient",
            r"downtempo",
            r"lo-fi beats",
            r"lo-fi",
            r"idm",
            r"uk garage",
            r"breakbeat",
            r"jungle",
            r"synthwave",
            r"chillwave",
            r"hardcore techno",
            r"gabber",
            r"bass music",
            r"indietronica",
            r"eurodance",
            r"trip hop",
        ),
    ),
    (
        "jazz/blues",
        (
            r"jazz\w*",
            r"blues",
            r"bebop",
            r"swing",
            r"big band",
            r"bossa nova",
            r"ragtime",
            r"dixieland",
        ),
    ),
    (
        "classical",
        (
            r"classical",
            r"orchestra\w*",
            r"baroque",
            r"opera",
            r"choral",
            r"choir",
            r"soundtrack",
            r"score",
            r"early music",
            r"chamber music",
            r"romantic era",
            r"compositional \w+",
            r"minimalism",
            r"neoclassical",
            r"video game music",
            r"string quartet",
            r"piano",
        ),
    ),
    (
        "folk/acoustic",
        (
            r"folk\w*",
            r"acoustic",
            r"singer-songwriter",
            r"stomp and holler",
            r"celtic",
            r"sea shanties",
        ),
    ),
    (
        "rock",
        (
            r"rock\w*",
            r"punk",
            r"post-punk",
            r"grunge",
            r"emo",
            r"shoegaze",
            r"new wave",
            r"permanent wave",
            r"britpop",
            r"madchester",
            r"psychedelia",
            r"dream pop",
            r"noise pop",
            r"power pop",
        ),
    ),
    (
        "world",
        (
            r"reggae",
            r"dancehall",
            r"afrobeats?",
            r"afropop",
            r"afro \w+",
            r"afro",
            r"amapiano",
            r"highlife",
            r"gqom",
            r"bongo flava",
            r"bhangra",
            r"filmi",
            r"desi \w+",
            r"desi",
            r"bollywood",
            r"arabic \w+",
            r"arab \w+",
            r"turkish \w+",
            r"greek \w+",
            r"fado",
            r"flamenco",
            r"soca",
            r"calypso",
            r"zouk",
            r"kizomba",
            r"kompa",
            r"qawwali",
            r"rai",
            r"chanson",
            r"world",
        ),
    ),
    (
        "pop",
        (
            r"pop",
            r"\w+pop",
            r"dance",
            r"boy band",
            r"girl group",
            r"europop",
            r"schlager",
            r"adult standards",
            r"easy listening",
            r"viral \w+",
            r"hyperpop",
            r"bubblegum",
        ),
    ),
    ("rock", (r"indie", r"alternative", r"alt \w+", r"modern \w+")),
)

# A keyword must be bounded by the start/end of the name, a space, "-" or "/" on both sides.
_COMPILED: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (family, re.compile(r"(?:^|(?<=[\s/-]))(?:" + "|".join(keys) + r")(?=$|[\s/-])"))
    for family, keys in _RULES
)


@lru_cache(maxsize=65536)
def genre_family(genre: str | None) -> str:
    """Map one Spotify micro-genre to its family (first matching rule; ``"other"`` if none).

    Pure and cached: the catalog holds a few thousand distinct genres, so each is parsed once.
    """
    if genre is None or not isinstance(genre, str):
        return "other"
    name = genre.strip().lower()
    if not name:
        return "other"
    for family, pattern in _COMPILED:
        if pattern.search(name):
            return family
    return "other"


def genre_families(genres: pd.Series) -> pd.Series:
    """Vectorized :func:`genre_family`: maps each distinct value once, keeps index and dtype kind
    (a ``string`` series gives a ``string`` series, anything else an object series)."""
    as_object = genres.astype(object).where(genres.notna(), None)
    uniques = pd.unique(as_object)
    mapping = {g: genre_family(g) for g in uniques if g is not None}
    out = as_object.map(mapping).where(as_object.notna(), "other")
    if isinstance(genres.dtype, pd.StringDtype):
        return out.astype("string")
    return out.astype(object)


# Realistic micro-genre names per family, used by the sample-world generator. Each maps back to
# its own family through genre_family() (tested).
MICRO_GENRES: dict[str, tuple[str, ...]] = {
    "hip hop/r&b": (
        "hip hop",
        "rap",
        "atl hip hop",
        "trap",
        "southern hip hop",
        "gangster rap",
        "melodic rap",
        "pop rap",
        "conscious hip hop",
        "east coast hip hop",
        "uk drill",
        "chicago drill",
        "r&b",
        "contemporary r&b",
        "alternative r&b",
        "neo soul",
        "urban contemporary",
        "uk hip hop",
        "grime",
        "underground hip hop",
    ),
    "rock": (
        "modern rock",
        "alternative rock",
        "classic rock",
        "indie rock",
        "album rock",
        "permanent wave",
        "pop punk",
        "garage rock",
        "post-grunge",
        "hard rock",
        "soft rock",
        "modern alternative rock",
        "emo",
        "post-punk",
        "britpop",
        "indie",
    ),
    "pop": (
        "pop",
        "dance pop",
        "post-teen pop",
        "electropop",
        "art pop",
        "indie pop",
        "uk pop",
        "canadian pop",
        "australian pop",
        "synthpop",
        "bedroom pop",
        "teen pop",
        "europop",
        "viral pop",
        "hyperpop",
    ),
    "latin": (
        "reggaeton",
        "latin pop",
        "trap latino",
        "urbano latino",
        "corridos tumbados",
        "musica mexicana",
        "sierreno",
        "bachata",
        "salsa",
        "cumbia",
        "sertanejo universitario",
        "funk carioca",
        "latin hip hop",
        "banda",
        "reggaeton colombiano",
    ),
    "country": (
        "country",
        "contemporary country",
        "country road",
        "modern country rock",
        "country pop",
        "outlaw country",
        "red dirt",
        "americana",
        "bluegrass",
        "texas country",
    ),
    "electronic": (
        "edm",
        "house",
        "deep house",
        "tech house",
        "progressive house",
        "tropical house",
        "techno",
        "melodic techno",
        "trance",
        "dubstep",
        "drum and bass",
        "electro house",
        "big room",
        "future bass",
        "uk garage",
    ),
    "jazz/blues": (
        "jazz",
        "contemporary jazz",
        "smooth jazz",
        "vocal jazz",
        "cool jazz",
        "jazz fusion",
        "bebop",
        "blues",
        "electric blues",
        "modern blues",
        "bossa nova",
    ),
    "classical": (
        "classical",
        "baroque",
        "early romantic era",
        "orchestral soundtrack",
        "opera",
        "choral",
        "modern classical",
        "neoclassical",
        "video game music",
        "classical piano",
        "string quartet",
    ),
    "metal": (
        "metal",
        "alternative metal",
        "nu metal",
        "metalcore",
        "heavy metal",
        "thrash metal",
        "death metal",
        "progressive metal",
        "deathcore",
        "djent",
        "power metal",
    ),
    "folk/acoustic": (
        "folk",
        "indie folk",
        "contemporary folk",
        "stomp and holler",
        "folk-pop",
        "acoustic pop",
        "singer-songwriter",
        "celtic",
        "folk rock",
        "chamber folk",
    ),
    "asian pop": (
        "k-pop",
        "k-pop boy group",
        "k-pop girl group",
        "k-rap",
        "j-pop",
        "j-rock",
        "anime",
        "mandopop",
        "cantopop",
        "c-pop",
        "city pop",
        "japanese indie",
        "opm",
    ),
    "world": (
        "afrobeats",
        "afropop",
        "amapiano",
        "reggae",
        "dancehall",
        "highlife",
        "bhangra",
        "filmi",
        "desi pop",
        "arabic pop",
        "turkish pop",
        "fado",
        "flamenco",
        "soca",
    ),
    "other": (
        "comedy",
        "children's music",
        "lullaby",
        "sleep",
        "white noise",
        "meditation",
        "christmas",
        "worship",
        "spoken word",
        "broadway",
        "show tunes",
        "kleine hoerspiel",
    ),
}
