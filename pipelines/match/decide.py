"""Match layer, decision: one link per record (matched / review / unmatched) from its scored pairs.

The contract's hard rules (outputs.md, "What may be matched") are guards on top of the score:
``matched`` needs the ID to agree (equal after repair, or a checksum-invalid ID one typo from the
person's) AND the name to agree (exact, folded, same pinyin, truncation) AND a match probability
at or above the auto-match threshold AND no second guard-passing candidate within the ambiguity
margin. Name alone never links. Reasons never contain an ID number or a name.
"""

from __future__ import annotations

import polars as pl

from pipelines.match.blocking import PIDX, RID, USABLE
from pipelines.match.compare import ID_AGREES, NAME_AGREES
from pipelines.match.params import METHODS, MatchParams

LINK_SCHEMA = {
    "source": pl.String, "period": pl.String, "record_no": pl.String,
    "person_id": pl.String, "household_id": pl.String, "score": pl.Float64,
    "status": pl.String, "method": pl.String, "match_weight": pl.Float64,
    "candidate_person_id": pl.String, "candidate_household_id": pl.String,
    "reason": pl.String, "comparison": pl.String,
}
_ID_METHOD = {"equal": "id_exact", "converted_15": "id_converted_15",
              "one_substitution": "id_one_substitution", "transposition": "id_transposition"}
_FIELD_WORDS = {"birth": "birth date", "sex": "sex", "district": "district"}
#: the methods :func:`_reason` words; every other method's reason is null
_REASON_METHODS = ("ambiguous", "low_score", "id_name_mismatch", "name_only",
                   "valid_id_not_on_register", "no_candidate", "rejected")


def _lit(text: str) -> pl.Expr:
    return pl.lit(text, dtype=pl.String)


def decide(scored: pl.DataFrame, recs: pl.DataFrame, reg: pl.DataFrame, *, params: MatchParams,
           confirmed: pl.DataFrame, rejected: pl.DataFrame) -> pl.DataFrame:
    """Choose each record's link from its scored candidate pairs.

    Parameters
    ----------
    scored : pl.DataFrame
        ``score_pairs`` output: ``_rid, _pidx, block``, levels, ``name_jw``, ``match_weight``,
        ``probability``.
    recs, reg : pl.DataFrame
        Prepared records and register.
    params : MatchParams
    confirmed, rejected : pl.DataFrame
        ``_rid, _pidx`` pairs staff confirmed / rejected.

    Returns
    -------
    pl.DataFrame
        One row per record of ``recs`` (same order), columns of ``LINK_SCHEMA``.
    """
    pair_key = [RID, PIDX]
    had_rejected = rejected.select(RID).unique().with_columns(_had_rejected=pl.lit(True))
    # the register is in person_id order, so _pidx breaks ties exactly as person_id would
    pairs = (scored.join(rejected.select(pair_key), on=pair_key, how="anti")
             .join(confirmed.select(pair_key).unique().with_columns(_confirmed=pl.lit(True)),
                   on=pair_key, how="left")
             .with_columns(
                 _confirmed=pl.col("_confirmed").fill_null(False),
                 _id_ok=pl.col("id").is_in(ID_AGREES),
                 _name_ok=pl.col("name").is_in(NAME_AGREES))
             .with_columns(_guard=pl.col("_id_ok") & pl.col("_name_ok"))
             .with_columns(_eligible=pl.col("_guard")
                           & (pl.col("probability") >= params.match_threshold))
             .sort([RID, "_confirmed", "_eligible", "_guard", "_id_ok", "match_weight", PIDX],
                   descending=[False, True, True, True, True, True, False], nulls_last=True))
    # the probability grows with the weight, so a guard-passing best pair is the heaviest guard
    # pair and the runner-up is the second-heaviest
    guarded = pairs.filter(pl.col("_guard"))
    runner_up = (guarded.filter(~pl.col(RID).is_first_distinct())
                 .group_by(RID).agg(_second_guard=pl.col("match_weight").max()))
    per_record = (pairs.filter(pl.col(RID).is_first_distinct())
                  .join(pairs.group_by(RID).agg(_n=pl.len()), on=RID, how="left")
                  .join(runner_up, on=RID, how="left")
                  .join(reg.select(PIDX, "person_id", "household_id"), on=PIDX, how="left"))
    comparison = pl.struct(
        pl.col("block"), pl.col("name"), pl.col("id"), pl.col("birth"), pl.col("sex"),
        pl.col("district"), name_jw=pl.col("name_jw").round(3), candidates=pl.col("_n"),
    ).struct.json_encode()
    df = (recs.select(RID, "source", "period", "record_no", "_status")
          .join(per_record.with_columns(comparison=comparison), on=RID, how="left",
                maintain_order="left")
          .join(had_rejected, on=RID, how="left", maintain_order="left")
          .with_columns(_had_rejected=pl.col("_had_rejected").fill_null(False),
                        _has=pl.col(PIDX).is_not_null(),
                        # a usable ID whose best pair does not agree on ID is not on the register
                        _off_register=pl.col("_status").is_in(["valid", "converted_15"])
                        & ~pl.col("_id_ok").fill_null(False)))

    close = (pl.col("_second_guard").is_not_null()
             & (pl.col("match_weight") - pl.col("_second_guard") < params.ambiguity_margin))
    no_usable_id = ~pl.col("_status").is_in(USABLE)
    # a namesake of a record whose valid ID is off the register is offered only when the birth
    # date read from that ID does not contradict the register's (else: someone else's ID)
    plausible = (pl.col("probability") >= params.review_threshold) & (pl.col("birth") != "different")
    method = (pl.when(~pl.col("_has") & pl.col("_had_rejected")).then(_lit("rejected"))
              .when(~pl.col("_has") & pl.col("_off_register")).then(_lit("valid_id_not_on_register"))
              .when(~pl.col("_has")).then(_lit("no_candidate"))
              .when(pl.col("_confirmed")).then(_lit("confirmed"))
              .when(pl.col("_guard") & close).then(_lit("ambiguous"))
              .when(pl.col("_eligible")).then(pl.col("id").replace_strict(_ID_METHOD, default=None))
              .when(pl.col("_guard")).then(_lit("low_score"))
              .when(pl.col("_id_ok")).then(_lit("id_name_mismatch"))
              .when(no_usable_id | plausible).then(_lit("name_only"))
              .when(pl.col("_off_register")).then(_lit("valid_id_not_on_register"))
              .otherwise(_lit("no_candidate")))
    df = df.with_columns(method=method).with_columns(
        status=pl.col("method").replace_strict(dict(METHODS), return_dtype=pl.String))
    matched = pl.col("status") == "matched"
    offered = pl.col("status").is_in(["matched", "review"])
    exact_score = matched & pl.col("id").is_in(["equal", "converted_15"]) & pl.col("_name_ok")
    score = (pl.when(~pl.col("_has")).then(None)
             .when(exact_score | (pl.col("method") == "confirmed")).then(1.0)
             .otherwise(pl.col("probability")))
    # every branch of the reason is computed for every row it is given, and matched rows (most
    # of them) have none: word only the rows whose method has a reason, and join the words back
    df = df.with_row_index("_row")
    reasons = (df.filter(pl.col("method").is_in(_REASON_METHODS))
               .select("_row", _reason=_reason(params)))
    df = df.join(reasons, on="_row", how="left", maintain_order="left")
    return df.select(
        "source", "period", "record_no",
        person_id=pl.when(matched).then(pl.col("person_id")),
        household_id=pl.when(matched).then(pl.col("household_id")),
        score=score,
        status="status",
        method="method",
        match_weight="match_weight",
        candidate_person_id=pl.when(offered).then(pl.col("person_id")),
        candidate_household_id=pl.when(offered).then(pl.col("household_id")),
        reason="_reason",
        comparison=pl.when(pl.col("_has")).then(pl.col("comparison")),
    ).cast(pl.Schema(LINK_SCHEMA))


def _disagreeing() -> pl.Expr:
    words = [pl.when(pl.col(f) == "different").then(_lit(w)) for f, w in _FIELD_WORDS.items()]
    listed = pl.concat_list(words).list.drop_nulls()
    return (pl.when(listed.list.len() > 0).then(listed.list.join(", "))
            .otherwise(_lit("the other details")))


def _reason(params: MatchParams) -> pl.Expr:
    m = pl.col("method")
    name_words = (pl.when(pl.col("name") == "unknown").then(_lit("the record or the register has no name"))
                  .when(pl.col("name").is_in(["jw_high", "jw_mid"]))
                  .then(pl.format("the name only sounds similar (pinyin similarity {})",
                                  pl.col("name_jw").round(2)))
                  .otherwise(_lit("the name is plainly different")))
    status_words = pl.col("_status").replace_strict(
        {"blank": "blank", "malformed": "malformed", "excel_number": "stored as a number by Excel",
         "bad_checksum": "fails its check digit", "valid": "valid", "converted_15": "a legacy 15-digit one"},
        default="unusable", return_dtype=pl.String)
    many = pl.when(pl.col("_n") > 1).then(pl.format(" ({} register persons are candidates)", pl.col("_n"))) \
        .otherwise(_lit(""))
    return (
        pl.when(m == "ambiguous").then(pl.format(
            "two register persons agree on ID and name with close match weights ({} and {}); "
            "the best is named: check which one the record belongs to",
            pl.col("match_weight").round(1), pl.col("_second_guard").round(1)))
        .when(m == "low_score").then(pl.format(
            "ID and name agree but {} disagree: match probability {} is below the auto-match "
            "threshold {}", _disagreeing(), pl.col("probability").round(3),
            pl.lit(params.match_threshold)))
        .when(m == "id_name_mismatch").then(pl.concat_str([pl.col("id").replace_strict(
            {"equal": "the ID equals the candidate's",
             "converted_15": "the ID equals the candidate's once converted from 15 digits",
             "one_substitution": "the ID is one wrong digit from the candidate's",
             "transposition": "the ID is one swap of neighbouring digits from the candidate's"},
            default="the ID agrees with the candidate's", return_dtype=pl.String),
            _lit(" but "), name_words]))
        .when((m == "name_only") & pl.col("_off_register")).then(pl.concat_str([_lit(
            "the record's ID is valid but not on the register; a register person with the same "
            "name has no usable ID there; never linked on name alone"), many]))
        .when(m == "name_only").then(pl.concat_str([pl.format(
            "the record's ID is {}; a register person has the same name", status_words),
            pl.when(pl.col("birth") == "equal").then(_lit(" and birth date")).otherwise(_lit("")),
            _lit("; never linked on name alone"), many]))
        .when((m == "valid_id_not_on_register") & pl.col("_has") & (pl.col("birth") == "different"))
        .then(_lit("the record's ID is valid but not on the register, so it belongs to someone "
                   "else; a namesake without a usable register ID has another birth date"))
        .when((m == "valid_id_not_on_register") & pl.col("_has")).then(pl.format(
            "the record's ID is valid but not on the register, so it belongs to someone else; a "
            "namesake without a usable register ID scored only {}", pl.col("probability").round(3)))
        .when(m == "valid_id_not_on_register").then(_lit(
            "the record's ID is valid but not on the register, so it belongs to someone else"))
        .when((m == "no_candidate") & pl.col("_has")).then(pl.format(
            "a register person shares the name, but {} disagree (probability {} is below the review "
            "threshold {})", _disagreeing(), pl.col("probability").round(3),
            pl.lit(params.review_threshold)))
        .when(m == "no_candidate").then(pl.concat_str([pl.format(
            "no register person shares the record's ID or name (the ID is {})", status_words)]))
        .when(m == "rejected").then(_lit("staff rejected every candidate for this identity"))
    )
