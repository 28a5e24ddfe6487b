"""Chart regions by name: the spelled-out region names of files that do not use the sites'
codes (the Kaggle ``charts.csv``: ``Argentina``, ``United Kingdom``, ``Global``) to the codes
``core.chart_entries`` uses, as both sites spell them in their file names: ``global`` or the
ISO 3166-1 alpha-2 code in lower case (``gb``, never ``uk``)."""

from __future__ import annotations

#: Every region of spotifycharts.com (2017-2021), as the Kaggle file names them.
CHART_REGIONS: dict[str, str] = {
    "Global": "global",
    "Andorra": "ad",
    "Argentina": "ar",
    "Australia": "au",
    "Austria": "at",
    "Belgium": "be",
    "Bolivia": "bo",
    "Brazil": "br",
    "Bulgaria": "bg",
    "Canada": "ca",
    "Chile": "cl",
    "Colombia": "co",
    "Costa Rica": "cr",
    "Czech Republic": "cz",
    "Denmark": "dk",
    "Dominican Republic": "do",
    "Ecuador": "ec",
    "Egypt": "eg",
    "El Salvador": "sv",
    "Estonia": "ee",
    "Finland": "fi",
    "France": "fr",
    "Germany": "de",
    "Greece": "gr",
    "Guatemala": "gt",
    "Honduras": "hn",
    "Hong Kong": "hk",
    "Hungary": "hu",
    "Iceland": "is",
    "India": "in",
    "Indonesia": "id",
    "Ireland": "ie",
    "Israel": "il",
    "Italy": "it",
    "Japan": "jp",
    "Latvia": "lv",
    "Lithuania": "lt",
    "Luxembourg": "lu",
    "Malaysia": "my",
    "Mexico": "mx",
    "Morocco": "ma",
    "Netherlands": "nl",
    "New Zealand": "nz",
    "Nicaragua": "ni",
    "Norway": "no",
    "Panama": "pa",
    "Paraguay": "py",
    "Peru": "pe",
    "Philippines": "ph",
    "Poland": "pl",
    "Portugal": "pt",
    "Romania": "ro",
    "Russia": "ru",
    "Saudi Arabia": "sa",
    "Singapore": "sg",
    "Slovakia": "sk",
    "South Africa": "za",
    "South Korea": "kr",
    "Spain": "es",
    "Sweden": "se",
    "Switzerland": "ch",
    "Taiwan": "tw",
    "Thailand": "th",
    "Turkey": "tr",
    "Ukraine": "ua",
    "United Arab Emirates": "ae",
    "United Kingdom": "gb",
    "United States": "us",
    "Uruguay": "uy",
    "Vietnam": "vn",
}

#: Other spellings seen in re-saved or re-scraped copies, and the regions charts.spotify.com
#: added after 2021 (a user's own scrape in the same shape may hold them).
OTHER_SPELLINGS: dict[str, str] = {
    "Czechia": "cz",
    "Korea": "kr",
    "Korea, Republic of": "kr",
    "Republic of Korea": "kr",
    "Hong Kong SAR": "hk",
    "Russian Federation": "ru",
    "The Netherlands": "nl",
    "Türkiye": "tr",
    "Turkiye": "tr",
    "UAE": "ae",
    "UK": "gb",
    "Great Britain": "gb",
    "USA": "us",
    "United States of America": "us",
    "Viet Nam": "vn",
    "Belarus": "by",
    "Kazakhstan": "kz",
    "Nigeria": "ng",
    "Pakistan": "pk",
    "Venezuela": "ve",
}

_BY_KEY: dict[str, str] = {
    " ".join(name.lower().split()): code
    for name, code in {**CHART_REGIONS, **OTHER_SPELLINGS}.items()
}
#: Every region code a chart row may have (the codes themselves are accepted as names too:
#: a copy that already holds them).
REGION_CODES: frozenset[str] = frozenset(_BY_KEY.values())


def region_code(name: str | None) -> str | None:
    """The region code of a region as a chart file names it (any case, spaces trimmed; the
    code itself is accepted), or None when it is not a chart region."""
    if name is None:
        return None
    key = " ".join(name.lower().split())
    return _BY_KEY.get(key) or (key if key in REGION_CODES else None)
