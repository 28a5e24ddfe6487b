import pandas as pd
import pytest

from spotify_assets.lib.catalog.genres import (
    GENRE_FAMILIES,
    MICRO_GENRES,
    genre_families,
    genre_family,
)


def test_about_a_dozen_families_with_other_last():
    assert 10 <= len(GENRE_FAMILIES) <= 15
    assert len(set(GENRE_FAMILIES)) == len(GENRE_FAMILIES)
    assert GENRE_FAMILIES[-1] == "other"
    assert set(MICRO_GENRES) == set(GENRE_FAMILIES)


@pytest.mark.parametrize("family", GENRE_FAMILIES)
def test_every_generator_micro_genre_maps_back_to_its_family(family):
    names = MICRO_GENRES[family]
    assert 5 <= len(names) <= 20
    wrong = {g: genre_family(g) for g in names if genre_family(g) != family}
    assert wrong == {}


@pytest.mark.parametrize(
    ("genre", "family"),
    [
        ("atl hip hop", "hip hop/r&b"),
        ("pop rap", "hip hop/r&b"),
        ("contemporary r&b", "hip hop/r&b"),
        ("modern rock", "rock"),
        ("pop punk", "rock"),
        ("indie", "rock"),
        ("dance pop", "pop"),
        ("indie pop", "pop"),
        ("reggaeton", "latin"),
        ("latin pop", "latin"),
        ("trap latino", "latin"),
        ("contemporary country", "country"),
        ("country rock", "country"),
        ("tropical house", "electronic"),
        ("pop edm", "electronic"),
        ("k-pop", "asian pop"),
        ("K-Pop Girl Group", "asian pop"),
        ("rap metal", "metal"),
        ("indie folk", "folk/acoustic"),
        ("smooth jazz", "jazz/blues"),
        ("baroque", "classical"),
        ("afrobeats", "world"),
        ("afropop", "world"),
    ],
)
def test_ordered_rules(genre, family):
    assert genre_family(genre) == family


@pytest.mark.parametrize("genre", [None, "", "   ", "popcorn", "comedy", "zzz unknown", 42])
def test_unknown_or_empty_is_other(genre):
    assert genre_family(genre) == "other"


def test_vectorized_matches_scalar_and_keeps_index_and_dtype():
    values = ["atl hip hop", None, "dance pop", "dance pop", "reggaeton", ""]
    s = pd.Series(values, index=[10, 11, 12, 13, 14, 15], dtype="string")
    out = genre_families(s)
    assert list(out.index) == [10, 11, 12, 13, 14, 15]
    assert out.dtype == "string"
    assert out.tolist() == [genre_family(v) for v in values]

    obj = genre_families(pd.Series(values, dtype=object))
    assert obj.dtype == object
    assert obj.tolist() == out.tolist()
    assert genre_families(pd.Series([], dtype="string")).empty
