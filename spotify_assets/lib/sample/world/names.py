"""The words the sample world's names are made of: artists, labels, tracks, albums, playlists,
shows and audiobooks."""


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    """Word lists are written as one string for readability."""
    return tuple(text.split(sep))


_ADJ = _words(
    "Midnight Golden Electric Velvet Broken Neon Silent Wild Lonely Sweet Cold Burning Paper "
    "Crystal Endless Hollow Lucky Restless Summer Purple Faded Savage Gentle Crimson Bitter "
    "Shining Lost Secret Heavy Blue Silver Little Holy Dirty Sacred Fragile Vivid Quiet Bright "
    "Dark Honey Static Wicked Tender Frozen Radiant Borrowed Hidden Lazy"
)
_NOUN = _words(
    "Hearts Dreams Nights Waves Roads Lights Shadows Rivers Fire Rain Skies Echoes Roses "
    "Streets Tides Ghosts Wolves Mirrors Flowers Stars Bones Diamonds Sparks Horizons Angels "
    "Oceans Cities Wires Machines Seasons Storms Lines Gardens Highways Signals Kings Queens "
    "Youth Summers Clouds Letters Satellites Windows Bridges Tigers Comets Lanterns Islands"
)
_FIRST = _words(
    "Maya Leo Ava Jay Nina Kai Zoe Eli Luna Max Ivy Theo Aria Noah Sky Remy Jade Omar Lena Cruz "
    "Mila Dante Rosa Finn Nia Jonah Tessa Marco Selena Dev Yuna Kenji Amara Tomas Ines Sol Ray "
    "Wren Cleo Ezra Malik Priya Sven Chloe Mateo Aiko Kofi Lucia Bruno Hana"
)
_LAST = _words(
    "Rivers Stone Vale Cruz Park Moreno Hart Quinn Blake Reyes Kim Lane Ford Santos West Gray "
    "Nakamura Okafor Silva Novak Fox Bell Diaz Cole Meyer Sato Banks Rossi Ortiz Walker Lindqvist "
    "Haddad Mensah Ferreira Kowalski Brooks"
)
_SYLLABLES = _words(
    "ka ri mo zen lu ta vel sha no dri mi ra jo ve lin tor sa ki bel du na rio xa len ko fa "
    "ny ar el is ondo"
)
_VERB = _words(
    "Chasing Falling Running Dancing Waiting Burning Holding Losing Calling Breaking Saving "
    "Leaving Drifting Fading Finding Missing"
)
_OBJ = _words(
    "You|the Sun|Midnight|Home|Gold|Forever|Tonight|the Light|Your Love|Us|the Moon|Ghosts|"
    "the Weekend|Paradise|Nowhere|the Feeling",
    "|",
)
_NAME_PREFIX = {
    "hip hop/r&b": ("Lil ", "Young ", "MC ", "Big ", ""),
    "latin": ("Los ", "La ", "El ", ""),
    "electronic": ("DJ ", "", ""),
    "asian pop": ("", ""),
    "country": ("", ""),
}
_MAJOR_LABELS = (
    "Northwind Records",
    "Blue Harbor Music",
    "Meridian Recordings",
    "Atlas Sound",
    "Crownfield Music",
    "Silverline Records",
    "Parallel Music Group",
    "Redwood Entertainment",
    "Lumen Records",
    "Kestrel Music",
)
_INDIE_WORDS = (
    "Moth",
    "Lantern",
    "Copper",
    "Static",
    "Orchard",
    "Tide",
    "Basement",
    "Comet",
    "Harbor",
    "Fern",
    "Echo",
    "Granite",
    "Saffron",
    "Kite",
    "Marble",
    "Juniper",
)
_FAMILY_LABEL = {
    "hip hop/r&b": "Hip Hop",
    "rock": "Rock",
    "pop": "Pop",
    "latin": "Latin",
    "country": "Country",
    "electronic": "Electronic",
    "jazz/blues": "Jazz",
    "classical": "Classical",
    "metal": "Metal",
    "folk/acoustic": "Acoustic",
    "asian pop": "K-Pop & J-Pop",
    "world": "Afrobeats & World",
    "other": "Chill",
}
_MIXED_PLAYLIST_NAMES = (
    "Today's Mix",
    "Road Trip",
    "Focus Flow",
    "Workout Energy",
    "Throwback Jams",
    "Sunday Reset",
    "Fresh Finds",
    "Late Night Drive",
    "Morning Coffee",
    "Party Starters",
)
