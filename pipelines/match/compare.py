"""Match layer, comparison: the level of agreement of each candidate pair, field by field.

Levels (``rules/matching.yaml`` describes each):

- name: ``exact``, ``folded``, ``pinyin_same``, ``truncation``, ``jw_high``, ``jw_mid``,
  ``different``, ``unknown``. Pinyin sameness allows any reading of each character (pypinyin
  heteronyms plus surname readings), distinct characters converted once. Jaro-Winkler is computed
  with rapidfuzz on the pinyin of distinct name pairs (DuckDB's is byte-based, wrong for CJK).
- id: ``equal``, ``converted_15``, ``one_substitution``, ``transposition``, ``other``, ``none``.
- birth, sex, district: ``equal``, ``different``, ``unknown`` (record side read from its ID).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import polars as pl
from pypinyin import Style, pinyin
from rapidfuzz.distance import OSA, Hamming, JaroWinkler
from rapidfuzz.process import cpdist

from pipelines.match.blocking import PIDX, RID
from pipelines.match.params import MatchParams

#: Surname readings pypinyin does not always give (STACK-NOTES); added to the character's set.
SURNAME_READINGS = {"单": "shan", "曾": "zeng", "区": "ou", "仇": "qiu", "解": "xie", "查": "zha",
                    "朴": "piao", "盖": "ge", "乐": "yue", "覃": "qin", "缪": "miao", "翟": "zhai"}
NAME_AGREES = ("exact", "folded", "pinyin_same", "truncation")
ID_AGREES = ("equal", "converted_15", "one_substitution", "transposition")

_REC_COLS = ("name_raw", "name_norm", "_name_key", "name_pinyin", "_status", "_id_cmp",
             "_birth_key", "_sex_key", "_district_key")
_REG_COLS = ("name_raw", "name_norm", "_name_key", "name_pinyin", "_id18", "_converted",
             "_birth_key", "_sex_key", "district_code")


@lru_cache(maxsize=65536)
def _readings(char: str) -> tuple[str, ...]:
    found = {r.lower() for r in pinyin(char, style=Style.NORMAL, heteronym=True)[0]}
    if char in SURNAME_READINGS:
        found.add(SURNAME_READINGS[char])
    return tuple(sorted(found))


def reading_table(chars: pl.Series) -> pl.DataFrame:
    """Every pinyin reading (tones dropped) of each distinct character.

    Parameters
    ----------
    chars : pl.Series
        Characters (repeats allowed; each distinct one is converted once).

    Returns
    -------
    pl.DataFrame
        ``char``, ``reading``: one row per (character, reading). A character without pinyin
        reads as itself (lower-cased).
    """
    distinct = chars.drop_nulls().unique().sort().to_list()
    return (pl.DataFrame({"char": distinct, "reading": [list(_readings(c)) for c in distinct]},
                         schema={"char": pl.String, "reading": pl.List(pl.String)})
            .explode("reading"))


def pinyin_same(left: pl.Series, right: pl.Series) -> pl.Series:
    """Whether two aligned name columns read the same in pinyin, under any reading of each character.

    Parameters
    ----------
    left, right : pl.Series
        Names (String), aligned row by row.

    Returns
    -------
    pl.Series
        Boolean: same length and at every position the two characters share a reading. Null
        when either name is null.
    """
    frame = pl.DataFrame({"l": left, "r": right}, schema={"l": pl.String, "r": pl.String})
    pairs = (frame.filter(pl.col("l").is_not_null() & pl.col("r").is_not_null()
                          & (pl.col("l").str.len_chars() == pl.col("r").str.len_chars()))
             .unique().with_row_index("pair"))
    if pairs.height:
        def positions(side: str) -> pl.DataFrame:
            return (pairs.select("pair", char=pl.col(side).str.split(""))
                    .with_columns(pos=pl.int_ranges(0, pl.col("char").list.len()))
                    .explode("char", "pos"))
        left_pos, right_pos = positions("l"), positions("r")
        readings = reading_table(pl.concat([left_pos["char"], right_pos["char"]]))
        shared = (left_pos.join(readings, on="char")
                  .join(right_pos.join(readings, on="char"), on=["pair", "pos", "reading"])
                  .select("pair", "pos").unique()
                  .group_by("pair").agg(n_same=pl.len()))
        pairs = (pairs.join(shared, on="pair", how="left")
                 .with_columns(same=pl.col("n_same").fill_null(0) == pl.col("l").str.len_chars()))
    else:
        pairs = pairs.with_columns(same=pl.lit(False))
    return (frame.join(pairs.select("l", "r", "same"), on=["l", "r"], how="left",
                       maintain_order="left")
            .select(pl.when(pl.col("l").is_not_null() & pl.col("r").is_not_null())
                    .then(pl.col("same").fill_null(False)))
            .to_series().alias("pinyin_same"))


def _pairwise(left: pl.Series, right: pl.Series, scorer, name: str, dtype) -> pl.Series:
    """A rapidfuzz scorer over aligned (left, right) values, vectorised by cpdist; null on nulls."""
    mask = (left.is_not_null() & right.is_not_null()).to_numpy()
    where = np.flatnonzero(mask)
    values = np.zeros(len(left), dtype=np.float64)
    if where.size:
        values[where] = cpdist(left.gather(where).to_list(), right.gather(where).to_list(),
                               scorer=scorer, workers=-1)
    return (pl.Series(name, values).cast(dtype)
            .zip_with(pl.Series(mask), pl.Series(name, [None] * len(left), dtype=dtype)))


def jaro_winkler(left: pl.Series, right: pl.Series) -> pl.Series:
    """Jaro-Winkler similarity (0..1) of aligned strings with rapidfuzz; null when either is null."""
    return _pairwise(left, right, JaroWinkler.normalized_similarity, "jw", pl.Float64)


def id_edit(left: pl.Series, right: pl.Series) -> pl.Series:
    """Edit between aligned 18-character IDs: ``same``, ``substitution``, ``transposition``, ``other``.

    Parameters
    ----------
    left, right : pl.Series
        IDs (String); null gives null.

    Returns
    -------
    pl.Series
        ``substitution`` when exactly one position differs, ``transposition`` when two
        neighbouring characters are swapped, ``same`` when equal, else ``other``.
    """
    ham = _pairwise(left, right, Hamming.distance, "ham", pl.Int64)
    osa = _pairwise(left, right, OSA.distance, "osa", pl.Int64)
    return (pl.DataFrame({"ham": ham, "osa": osa})
            .select(pl.when(pl.col("ham").is_null()).then(None)
                    .when(pl.col("ham") == 0).then(pl.lit("same"))
                    .when(pl.col("ham") == 1).then(pl.lit("substitution"))
                    .when((pl.col("ham") == 2) & (pl.col("osa") == 1)).then(pl.lit("transposition"))
                    .otherwise(pl.lit("other")))
            .to_series().alias("id_edit"))


def _three_way(left: str, right: str) -> pl.Expr:
    l, r = pl.col(left), pl.col(right)
    return (pl.when(l.is_null() | r.is_null()).then(pl.lit("unknown"))
            .when(l == r).then(pl.lit("equal")).otherwise(pl.lit("different")))


def compare_pairs(pairs: pl.DataFrame, recs: pl.DataFrame, reg: pl.DataFrame, *,
                  params: MatchParams) -> pl.DataFrame:
    """Comparison levels of each candidate pair.

    Parameters
    ----------
    pairs : pl.DataFrame
        ``_rid``, ``_pidx``, ``block`` (from ``build_candidate_pairs`` or a random sample).
    recs, reg : pl.DataFrame
        Prepared records and register (``prepare_records`` / ``prepare_register``).
    params : MatchParams
        For the Jaro-Winkler cut-offs and the shortest truncation.

    Returns
    -------
    pl.DataFrame
        The pairs (same order) with ``name``, ``id``, ``birth``, ``sex``, ``district`` levels and
        ``name_jw`` (pinyin Jaro-Winkler, null when a side has no pinyin).
    """
    joined = (pairs
              .join(recs.select(RID, *_REC_COLS), on=RID, how="left", maintain_order="left")
              .join(reg.select(PIDX, *_REG_COLS), on=PIDX, how="left", maintain_order="left",
                    suffix="_r"))
    # the costly comparisons only where the cheap ones did not decide: names that differ, and
    # checksum-invalid record IDs (a usable ID is either equal or someone else's)
    differ = pl.col("_name_key") != pl.col("_name_key_r")
    inputs = joined.select(
        pin_l=pl.when(differ).then(pl.col("name_pinyin").str.replace_all(" ", "", literal=True)),
        pin_r=pl.col("name_pinyin_r").str.replace_all(" ", "", literal=True),
        key_l=pl.when(differ).then(pl.col("_name_key")),
        key_r=pl.col("_name_key_r"),
        id_l=pl.when(pl.col("_status") == "bad_checksum").then(pl.col("_id_cmp")),
        id_r=pl.col("_id18"),
    )
    joined = joined.with_columns(
        name_jw=pl.when(differ).then(jaro_winkler(inputs["pin_l"], inputs["pin_r"]))
        .when(pl.col("name_pinyin").is_not_null() & pl.col("name_pinyin_r").is_not_null())
        .then(pl.lit(1.0)),
        _pinyin_same=pinyin_same(inputs["key_l"], inputs["key_r"]),
        _id_edit=id_edit(inputs["id_l"], inputs["id_r"]),
    )
    key_l, key_r = pl.col("_name_key"), pl.col("_name_key_r")
    shorter = pl.min_horizontal(key_l.str.len_chars(), key_r.str.len_chars())
    # minority names are compared without their separator, so 买买提 is a truncation of 买买提·艾力
    truncated = ((key_r.str.starts_with(key_l) | key_l.str.starts_with(key_r))
                 & (shorter >= params.truncation_min_chars))
    name = (pl.when(key_l.is_null() | key_r.is_null()).then(pl.lit("unknown"))
            .when(pl.col("name_raw").str.strip_chars() == pl.col("name_raw_r").str.strip_chars())
            .then(pl.lit("exact"))
            .when(key_l == key_r).then(pl.lit("folded"))
            .when(pl.col("_pinyin_same")).then(pl.lit("pinyin_same"))
            .when(truncated).then(pl.lit("truncation"))
            .when(pl.col("name_jw") >= params.jw_high).then(pl.lit("jw_high"))
            .when(pl.col("name_jw") >= params.jw_mid).then(pl.lit("jw_mid"))
            .otherwise(pl.lit("different")))
    usable_l = pl.col("_status").is_in(["valid", "converted_15"])
    ident = (pl.when(pl.col("_id_cmp").is_null() | pl.col("_id18").is_null()).then(pl.lit("none"))
             .when(usable_l & (pl.col("_id_cmp") == pl.col("_id18"))
                   & ((pl.col("_status") == "converted_15") | pl.col("_converted")))
             .then(pl.lit("converted_15"))
             .when(usable_l & (pl.col("_id_cmp") == pl.col("_id18"))).then(pl.lit("equal"))
             .when((pl.col("_status") == "bad_checksum") & (pl.col("_id_edit") == "substitution"))
             .then(pl.lit("one_substitution"))
             .when((pl.col("_status") == "bad_checksum") & (pl.col("_id_edit") == "transposition"))
             .then(pl.lit("transposition"))
             .otherwise(pl.lit("other")))
    return joined.select(
        RID, PIDX, "block",
        name=name, id=ident,
        birth=_three_way("_birth_key", "_birth_key_r"),
        sex=_three_way("_sex_key", "_sex_key_r"),
        district=_three_way("_district_key", "district_code"),
        name_jw=pl.col("name_jw"),
    )
