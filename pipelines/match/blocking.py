"""Match layer, blocking: candidate (record, register person) pairs, each with the rule that found it.

Blocking rules, in priority order (a pair found by several keeps the first):

``id_exact``
    the record's usable ID (valid or converted from 15 digits) equals the person's.
``id_neighbour``
    the record's ID fails its check digit; one of its neighbours (one digit substituted, or two
    neighbouring digits swapped) that has a valid check digit equals the person's ID. A
    checksum-valid ID is never neighbour-searched (inputs.md, "ID facts").
``name_birth`` / ``pinyin_birth``
    checksum-invalid record: same name (folded, or pinyin) and birth date read from its digits.
``name`` / ``pinyin``
    record without a usable ID (blank, malformed, Excel number, or checksum-invalid): same name
    (folded, or pinyin) — for the review queue only.
``name_no_register_id`` / ``pinyin_no_register_id``
    record whose valid ID is not on the register: same name as a person whose own ID is unusable.
``confirmed``
    a staff decision confirmed this identity for this person (and no other rule found the pair).

Records and register are different tables, so no pair joins a row with itself; pairs are unique
on ``(_rid, _pidx)``.
"""

from __future__ import annotations

import numpy as np
import polars as pl

#: Index columns the match stage adds: a record's and a register row's position after sorting.
RID, PIDX = "_rid", "_pidx"
USABLE = ("valid", "converted_15")
BLOCK_ORDER = ("id_exact", "id_neighbour", "name_birth", "pinyin_birth", "name", "pinyin",
               "name_no_register_id", "pinyin_no_register_id", "confirmed")

_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
#: check value (0..10, 10 = X) for a weighted sum modulo 11
_CHECK_OF_SUM = np.array([1, 0, 10, 9, 8, 7, 6, 5, 4, 3, 2], dtype=np.int64)
_PAIR_SCHEMA = {RID: pl.Int64, PIDX: pl.Int64, "block": pl.String}


def prepare_records(records: pl.DataFrame) -> pl.DataFrame:
    """Add the keys matching works on to the extract records (input untouched).

    Parameters
    ----------
    records : pl.DataFrame
        Clean extract records, already in the stage's canonical order.

    Returns
    -------
    pl.DataFrame
        The records with ``_rid`` (row position), ``_status`` (``id_status``, ``blank`` when
        null), ``_id_cmp`` (the 18-character ID when usable or checksum-invalid), ``_birth_key``,
        ``_sex_key``, ``_district_key`` (read from ``_id_cmp``'s digits, so a checksum-invalid ID
        still gives its birth date) and ``_name_key`` (``name_norm`` without separators).
    """
    status = pl.col("id_status").fill_null("blank")
    id_cmp = (pl.when(status.is_in([*USABLE, "bad_checksum"]) & (pl.col("id_norm").str.len_chars() == 18))
              .then(pl.col("id_norm")))
    return (
        records.with_row_index(RID).with_columns(pl.col(RID).cast(pl.Int64))
        .with_columns(_status=status, _id_cmp=id_cmp)
        .with_columns(
            _birth_key=pl.coalesce(pl.col("_id_cmp").str.slice(6, 8).str.to_date("%Y%m%d", strict=False),
                                   pl.col("id_birth_on")),
            _sex_key=pl.coalesce(
                pl.when(pl.col("_id_cmp").str.slice(16, 1).cast(pl.Int64, strict=False) % 2 == 1)
                .then(pl.lit("男"))
                .when(pl.col("_id_cmp").str.slice(16, 1).cast(pl.Int64, strict=False) % 2 == 0)
                .then(pl.lit("女")),
                pl.col("id_sex")),
            _district_key=pl.col("_id_cmp").str.slice(0, 6),
            _name_key=_name_key(pl.col("name_norm")),
        )
    )


def prepare_register(register: pl.DataFrame) -> pl.DataFrame:
    """Add the keys matching works on to the register (input untouched).

    Parameters
    ----------
    register : pl.DataFrame
        The folder's clean register, already in the stage's canonical order.

    Returns
    -------
    pl.DataFrame
        The register with ``_pidx`` (row position), ``_id18`` (usable ID or null),
        ``_converted`` (its ID came from 15 digits), ``_birth_key`` (``birth_on``, else from the
        ID), ``_sex_key`` and ``_name_key``.
    """
    status = pl.col("id_status").fill_null("blank")
    return (
        register.with_row_index(PIDX).with_columns(pl.col(PIDX).cast(pl.Int64))
        .with_columns(
            _id18=pl.when(status.is_in(USABLE)).then(pl.col("id18")),
            _converted=status == "converted_15",
            _birth_key=pl.coalesce(pl.col("birth_on"), pl.col("id_birth_on")),
            _sex_key=pl.coalesce(pl.col("sex"), pl.col("id_sex")),
            _name_key=_name_key(pl.col("name_norm")),
        )
    )


def _name_key(name: pl.Expr) -> pl.Expr:
    # minority names come with or without a separator (买买提·艾力 / 买买提艾力): compare without it
    key = name.str.replace_all("·", "", literal=True)
    return pl.when(key.str.len_chars() > 0).then(key)


def check_values(bodies: np.ndarray) -> np.ndarray:
    """MOD 11-2 check values (0..10, 10 meaning ``X``) of 17-digit bodies.

    Parameters
    ----------
    bodies : np.ndarray
        Integer array of shape (n, 17), one digit per cell.

    Returns
    -------
    np.ndarray
        Shape (n,), the check value each body requires.
    """
    return _CHECK_OF_SUM[(bodies.astype(np.int64) @ _WEIGHTS) % 11]


def _digits(ids: pl.Series) -> np.ndarray:
    raw = np.frombuffer("".join(ids.to_list()).encode("ascii"), dtype=np.uint8).reshape(-1, 18)
    digits = raw.astype(np.int64) - ord("0")
    digits[raw == ord("X")] = 10
    return digits


def _to_ids(digits: np.ndarray) -> pl.Series:
    chars = (digits + ord("0")).astype(np.uint8)
    chars[digits == 10] = ord("X")
    return pl.Series(np.ascontiguousarray(chars).view("S18").ravel()).cast(pl.String)


def id_neighbours(ids: pl.Series) -> pl.DataFrame:
    """Every checksum-valid ID one substitution or one neighbour swap away from each input ID.

    Only neighbours with a valid check digit can be register IDs (MOD 11-2 catches every single
    wrong digit and every neighbour swap), so only those are generated: about 15 per ID.

    Parameters
    ----------
    ids : pl.Series
        18-character IDs (digits, last may be ``X``); typically checksum-invalid ones.

    Returns
    -------
    pl.DataFrame
        ``index`` (position in ``ids``), ``neighbour`` (the valid ID), ``edit``
        (``substitution`` or ``transposition``). The input ID itself never appears.
    """
    schema = {"index": pl.Int64, "neighbour": pl.String, "edit": pl.String}
    if ids.len() == 0:
        return pl.DataFrame(schema=schema)
    d = _digits(ids)
    body, check = d[:, :17], d[:, 17]
    total = body @ _WEIGHTS
    rows, variants, edits = [], [], []

    # substitute position p < 17 by digit v: the sum moves by w_p * (v - d_p)
    for p in range(17):
        for v in range(10):
            new_total = total + _WEIGHTS[p] * (v - body[:, p])
            ok = (_CHECK_OF_SUM[new_total % 11] == check) & (body[:, p] != v)
            idx = np.nonzero(ok)[0]
            if idx.size:
                var = d[idx].copy()
                var[:, p] = v
                rows.append(idx)
                variants.append(var)
                edits.append(np.zeros(idx.size, np.int8))
    # substitute the check character itself
    right = _CHECK_OF_SUM[total % 11]
    idx = np.nonzero(right != check)[0]
    var = d[idx].copy()
    var[:, 17] = right[idx]
    rows.append(idx)
    variants.append(var)
    edits.append(np.zeros(idx.size, np.int8))
    # swap p, p+1 inside the body
    for p in range(16):
        new_total = total + (_WEIGHTS[p] - _WEIGHTS[p + 1]) * (body[:, p + 1] - body[:, p])
        ok = (_CHECK_OF_SUM[new_total % 11] == check) & (body[:, p] != body[:, p + 1])
        idx = np.nonzero(ok)[0]
        if idx.size:
            var = d[idx].copy()
            var[:, [p, p + 1]] = var[:, [p + 1, p]]
            rows.append(idx)
            variants.append(var)
            edits.append(np.ones(idx.size, np.int8))
    # swap the last body digit with the check character (only when the check is a digit)
    swapped = d.copy()
    swapped[:, [16, 17]] = swapped[:, [17, 16]]
    ok = (check < 10) & (body[:, 16] != check) & (check_values(swapped[:, :17]) == swapped[:, 17])
    idx = np.nonzero(ok)[0]
    rows.append(idx)
    variants.append(swapped[idx])
    edits.append(np.ones(idx.size, np.int8))

    all_rows = np.concatenate(rows)
    if all_rows.size == 0:
        return pl.DataFrame(schema=schema)
    all_vars = np.concatenate(variants)
    all_edits = np.concatenate(edits)
    return pl.DataFrame({
        "index": all_rows.astype(np.int64),
        "neighbour": _to_ids(all_vars),
        "edit": np.where(all_edits == 1, "transposition", "substitution"),
    }, schema=schema).unique(["index", "neighbour"], keep="first", maintain_order=True)


def build_candidate_pairs(recs: pl.DataFrame, reg: pl.DataFrame, *, max_name_candidates: int = 10,
                          confirmed: pl.DataFrame | None = None) -> pl.DataFrame:
    """Candidate (record, register row) pairs from every blocking rule, without all-pairs.

    Parameters
    ----------
    recs : pl.DataFrame
        Output of :func:`prepare_records`.
    reg : pl.DataFrame
        Output of :func:`prepare_register`.
    max_name_candidates : int
        Most register persons each name-based rule keeps per record (lowest ``_pidx`` first):
        those pairs only ever lead to review, so a common name must not explode the pair set.
    confirmed : pl.DataFrame, optional
        ``_rid``, ``_pidx`` pairs staff confirmed (see ``link_folder``).

    Returns
    -------
    pl.DataFrame
        ``_rid``, ``_pidx``, ``block``: unique pairs, sorted, each with the first rule (in
        ``BLOCK_ORDER``) that found it.
    """
    parts: list[pl.DataFrame] = []
    if confirmed is not None and confirmed.height:
        parts.append(confirmed.select(RID, PIDX).with_columns(block=pl.lit("confirmed")))

    reg_ids = reg.filter(pl.col("_id18").is_not_null()).select(PIDX, "_id18")
    usable = recs.filter(pl.col("_status").is_in(USABLE) & pl.col("_id_cmp").is_not_null())
    parts.append(usable.select(RID, pl.col("_id_cmp").alias("_id18"))
                 .join(reg_ids, on="_id18", how="inner")
                 .select(RID, PIDX, block=pl.lit("id_exact")))

    bad = recs.filter((pl.col("_status") == "bad_checksum") & pl.col("_id_cmp").is_not_null())
    neighbours = id_neighbours(bad["_id_cmp"])
    parts.append(neighbours.join(bad.select(RID).with_row_index("index")
                                 .with_columns(pl.col("index").cast(pl.Int64)), on="index")
                 .join(reg_ids, left_on="neighbour", right_on="_id18", how="inner")
                 .select(RID, PIDX, block=pl.lit("id_neighbour")))

    def by_keys(left: pl.DataFrame, right: pl.DataFrame, keys: list[str], label: str) -> pl.DataFrame:
        # every record sharing a key gets the same register persons: cap them on the register
        # side (lowest _pidx first) before the join, so a common name never explodes the pairs
        # (only the register rows whose key some record carries: the records searched by name
        # are few, so the window runs on a small slice instead of the whole register)
        wanted = left.select(*keys).drop_nulls(keys).unique()
        capped = (right.select(PIDX, *keys).drop_nulls(keys)
                  .join(wanted, on=keys, how="semi")
                  .sort(PIDX)
                  .filter(pl.int_range(pl.len()).over(keys) < max_name_candidates))
        return (left.select(RID, *keys).drop_nulls(keys)
                .join(capped, on=keys, how="inner")
                .select(RID, PIDX, block=pl.lit(label)))

    reg_named = reg.select(PIDX, "_name_key", "name_pinyin", "_birth_key", "_id18")
    parts.append(by_keys(bad, reg_named, ["_name_key", "_birth_key"], "name_birth"))
    parts.append(by_keys(bad, reg_named, ["name_pinyin", "_birth_key"], "pinyin_birth"))
    # a checksum-invalid ID is no usable ID either: when no neighbour is on the register (the
    # person's own register ID may be blank) its name still finds the candidate for review
    no_id = recs.filter(~pl.col("_status").is_in(USABLE) | pl.col("_id_cmp").is_null())
    parts.append(by_keys(no_id, reg_named, ["_name_key"], "name"))
    parts.append(by_keys(no_id, reg_named, ["name_pinyin"], "pinyin"))
    off_register = usable.join(reg_ids, left_on="_id_cmp", right_on="_id18", how="anti")
    reg_no_id = reg_named.filter(pl.col("_id18").is_null())
    parts.append(by_keys(off_register, reg_no_id, ["_name_key"], "name_no_register_id"))
    parts.append(by_keys(off_register, reg_no_id, ["name_pinyin"], "pinyin_no_register_id"))

    priority = {b: i for i, b in enumerate(BLOCK_ORDER)}
    found = [p.select(RID, PIDX, prio=pl.lit(priority[label], dtype=pl.Int8))
             for p in parts if p.height for label in [p["block"][0]]]
    if not found:
        return pl.DataFrame(schema=_PAIR_SCHEMA)
    return (pl.concat([f.cast({RID: pl.Int64, PIDX: pl.Int64}) for f in found], how="vertical")
            .group_by(RID, PIDX).agg(pl.col("prio").min())
            .sort(RID, PIDX)
            .select(RID, PIDX, block=pl.col("prio").replace_strict(
                {i: b for b, i in priority.items()}, return_dtype=pl.String)))
