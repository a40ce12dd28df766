"""Orchestration layer, review queue: rank review candidates, find what matters, publish both.

Three steps a run adds to its stages (issue 19), all after every folder is matched:

- :func:`rank_folder_ref`: up to three ranked candidates per review record
  (``pipelines.match.rank``), from the folder and the month before it, written beside the
  folder's links as ``ranked.parquet`` (the publish writes them into ``links``);
- :func:`pending_review`: each assessed period is assessed a second time with every review record
  accepted as proposed (its first candidate taken as its person); a household whose flags,
  programme or standard would change is *uncertain*: its flag rows are marked
  ``pending_review`` with the records in question (``pending_records``), and those review records
  go to the front of the queue;
- :func:`publish_review_queue`: each assessed month's queue order (``review_queue``) and each
  folder's fitted model (``match_models``) go into the warehouse.

What is matched never changes here: the flags themselves are those rules.md computes from the
matched records; pending is a column beside them. When a clerk decides a review record
(``hedui decisions import``), the next run matches or rejects it and pending resolves.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import polars as pl

KEY = ["source", "period", "record_no"]
#: the link method given to a review record taken as proposed (only in the "accepted" assessment)
ACCEPTED_METHOD = "review_accepted"
_COMPARED = ("programme", "standard")


def ranked_path(folder_dir: Path) -> Path:
    """Where a folder's ranked review candidates are written."""
    return Path(folder_dir) / "ranked.parquet"


def model_path(folder_dir: Path) -> Path:
    """Where a folder's fitted model (``match_models`` rows) is written."""
    return Path(folder_dir) / "model.parquet"


def evidence_path(folder_dir: Path) -> Path:
    """Where a folder's evidence rows (its ID-linked records' stable identifiers) are written."""
    return Path(folder_dir) / "evidence.parquet"


#: how many months before a folder lend their ID-linked records to its ranking. A fixed number
#: of the folder's own months before it, never "the run's window": a folder's links (its ranked
#: candidates among them) must be the same in every run that loads it (outputs.md). Measured on
#: the 100,000-household city (benchmarks/README.md): right candidate first 62.6 % with the
#: folder alone, 91.6 % with the month before, 92.5 % with five months before
EVIDENCE_LOOKBACK = 1


def evidence_months(months: Sequence[str]) -> list[str]:
    """The months outside ``months`` that the ranking of ``months`` reads (sorted)."""
    from pipelines.periods import add_months

    wanted = {add_months(m, -k) for m in months for k in range(1, EVIDENCE_LOOKBACK + 1)}
    return sorted(wanted - set(months))


def write_evidence(ref, records: pl.DataFrame, links: pl.DataFrame) -> None:
    """Write a matched folder's evidence rows (:func:`pipelines.match.rank.evidence_table`)."""
    from pipelines.match.rank import FolderForRanking, evidence_table

    table = evidence_table([FolderForRanking(ref.period, records, None, links, None)])
    table.write_parquet(evidence_path(ref.dir))


def _evidence_of(ref) -> pl.LazyFrame | None:
    """A loaded folder's evidence rows, scanned (None: the folder has no links)."""
    from pipelines.run.folders import _folder_records

    if ref is None or not (ref.exists and ref.links.exists()):
        return None
    if not evidence_path(ref.dir).exists():
        # a folder matched by code that did not keep its evidence (an older cache entry)
        write_evidence(ref, _folder_records(ref), pl.read_parquet(ref.links))
    return pl.scan_parquet(evidence_path(ref.dir))


def rank_key(ref, before) -> str | None:
    """The key of a folder's ranking: its own cache key and that of the month before.

    None when either is unknown (the cache is off): the ranking is then made again.
    """
    import hashlib

    if ref.cache_key is None:
        return None
    if before is not None and before.exists and before.cache_key is None:
        return None
    prior = before.cache_key if before is not None and before.exists else "-"
    return hashlib.sha256(f"{ref.cache_key}:{prior}:{EVIDENCE_LOOKBACK}".encode()).hexdigest()[:32]


def rank_folder_ref(ref, before, *, params, decisions: pl.DataFrame | None = None) -> int:
    """Rank one folder's review candidates; writes ``ranked.parquet``; returns the rows ranked.

    Parameters
    ----------
    ref : FolderRef
        The folder (``pipelines.runner.FolderRef``), matched.
    before : FolderRef or None
        The month before it, matched, when delivered: its ID-linked records are evidence too.
    params : MatchParams
    decisions : pl.DataFrame, optional
        Staff link decisions (a rejected pair is never proposed).
    """
    from pipelines.match.model import estimates_from_frame
    from pipelines.match.rank import FolderForRanking, rank_review_candidates
    from pipelines.sources import EXTRACT_SOURCES

    if not (ref.exists and ref.links.exists()):
        return 0
    # ranking reads the review rows' keys and matching's own candidate, nothing else of links
    links = (pl.scan_parquet(ref.links).filter(pl.col("status") == "review")
             .select(*KEY, "status", "candidate_person_id").collect())
    review = links.select(KEY)
    # only the review records are read in full: ranking reads no other record of the folder
    frames = [pl.scan_parquet(ref.stg(s)).join(review.lazy(), on=KEY, how="semi").collect()
              for s in EXTRACT_SOURCES if ref.stg(s).exists()]
    records = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    register = pl.read_parquet(ref.stg("register")) if ref.register_ok else None
    model = model_path(ref.dir)
    estimates = estimates_from_frame(pl.read_parquet(model)) if model.exists() else None
    evidence = [e for e in (_evidence_of(ref), _evidence_of(before)) if e is not None]
    folder = FolderForRanking(ref.period, records, register, links, estimates)
    # scanned: the ranking reads only the evidence rows its review records' values select
    ranked = rank_review_candidates([folder], params=params, decisions=decisions,
                                    evidence=pl.concat(evidence) if evidence else None)[ref.period]
    ranked.write_parquet(ranked_path(ref.dir))
    return ranked.height


def insert_links(con, links: Path, ranked: Path) -> None:
    """Insert a folder's links into ``links``, its review rows with their ranked candidates.

    A review row the ranking gave candidates takes them (``candidate_person_id`` is the first);
    every other row keeps matching's own candidate and has no second or third. Rows keep the
    order of the folder's links file.
    """
    base = """source, period, record_no, person_id, household_id, score, status, method,
              match_weight, reason, comparison, comparison_weights"""
    if not Path(ranked).exists():
        con.execute(f"""INSERT INTO links BY NAME SELECT {base}, candidate_person_id,
                candidate_household_id FROM read_parquet(?)""", [str(links)])
        return
    from pipelines.match.rank.candidates import RANKED_SCHEMA

    ranked_cols = [c for c in RANKED_SCHEMA if c not in KEY]
    took = "l.status = 'review' AND r.candidate_reasons IS NOT NULL"
    chosen = ", ".join(
        f"CASE WHEN {took} THEN r.{c} ELSE l.{c} END AS {c}" if c in ranked_cols[:2]
        else f"CASE WHEN {took} THEN r.{c} END AS {c}" for c in ranked_cols)
    con.execute(f"""INSERT INTO links BY NAME
        SELECT {", ".join("l." + c.strip() for c in base.split(","))}, {chosen}
        FROM read_parquet(?, file_row_number = true) AS l
        LEFT JOIN read_parquet(?) AS r USING (source, period, record_no)
        ORDER BY l.file_row_number""", [str(links), str(ranked)])


def accepted_facts(refs: Sequence, facts: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """``facts`` plus every review record of ``refs`` taken as its first ranked candidate.

    Parameters
    ----------
    refs : Sequence[FolderRef]
        The folders of the period's window.
    facts : dict[str, pl.DataFrame]
        The matched facts the assessment used (source -> clean rows with ``person_id``,
        ``link_method``).

    Returns
    -------
    dict[str, pl.DataFrame]
        Source -> the same rows plus the review records, ``link_method = 'review_accepted'``.
    """
    from pipelines.assess import fact_columns

    extra: dict[str, list[pl.DataFrame]] = {}
    for ref in refs:
        path = ranked_path(ref.dir)
        if not path.exists():
            continue
        proposed = (pl.read_parquet(path).filter(pl.col("candidate_person_id").is_not_null())
                    .select(*KEY, person_id="candidate_person_id",
                            link_method=pl.lit(ACCEPTED_METHOD)))
        if proposed.height == 0:
            continue
        for source in ref.sources:
            if not ref.stg(source).exists():
                continue
            # only what the assessment reads, as the matched facts (pipelines/run/assessing.py)
            rows = (pl.read_parquet(ref.stg(source), columns=list(fact_columns(source)))
                    .join(proposed, on=KEY, how="inner"))
            if rows.height:
                extra.setdefault(source, []).append(rows)
    out = dict(facts)
    for source, frames in extra.items():
        base = [facts[source]] if source in facts else []
        out[source] = pl.concat([*base, *frames], how="diagonal_relaxed")
    return out


def touched_households(facts: dict[str, pl.DataFrame], register: pl.DataFrame) -> list[str]:
    """Households of the persons review records would be accepted for (sorted).

    Parameters
    ----------
    facts : dict[str, pl.DataFrame]
        :func:`accepted_facts` output.
    register : pl.DataFrame
        The period's register.
    """
    persons = [f.filter(pl.col("link_method") == ACCEPTED_METHOD).select("person_id")
               for f in facts.values() if f.height]
    if not persons:
        return []
    return (register.join(pl.concat(persons).unique(), on="person_id", how="semi")
            ["household_id"].drop_nulls().unique().sort().to_list())


def pending_review(base, accepted, *, accepted_facts_by_source: dict[str, pl.DataFrame],
                   register: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Compare a period's assessment with the one where every review record is accepted.

    Parameters
    ----------
    base, accepted : Assessment
        ``assess_period`` results without and with the review records; ``accepted`` may cover
        only the households the review records touch (:func:`touched_households`), the others
        cannot change.
    accepted_facts_by_source : dict[str, pl.DataFrame]
        The facts of ``accepted`` (to name the review records behind each household).
    register : pl.DataFrame
        The period's register (``person_id, household_id``).

    Returns
    -------
    tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]
        ``flags``: the base flags, unchanged, with ``pending_review`` (Boolean) and
        ``pending_records`` (JSON list of ``{source, period, record_no}``, null unless pending);
        ``records``: ``source, period, record_no, household_id, district_code`` of the review
        records whose acceptance would change an uncertain household; ``uncertain``: ``household_id,
        district_code`` of the households whose outcome is uncertain.
    """
    def flag_sets(assessment) -> pl.DataFrame:
        return (assessment.flags.group_by("household_id")
                .agg(flags=pl.col("flag").unique().sort()))

    def outcome(assessment) -> pl.DataFrame:
        cols = [c for c in _COMPARED if c in assessment.assessments.columns]
        return (assessment.assessments.select("household_id", "district_code",
                                              *[pl.col(c).cast(pl.String) for c in cols])
                .join(flag_sets(assessment), on="household_id", how="left")
                .with_columns(flags=pl.col("flags").fill_null(pl.lit([], pl.List(pl.String)))
                              .list.join(",")))
    after = outcome(accepted)
    # the second assessment may cover only the households review records touch
    before = outcome(base).join(after.select("household_id"), on="household_id", how="semi")
    compared = [c for c in (*_COMPARED, "flags") if c in before.columns]
    joined = before.join(after, on="household_id", how="full", suffix="_a", coalesce=True)
    differs = pl.any_horizontal([~pl.col(c).eq_missing(pl.col(f"{c}_a")) for c in compared])
    uncertain = (joined.filter(differs)
                 .select("household_id", district_code=pl.coalesce("district_code",
                                                                   "district_code_a"))
                 .sort("household_id"))
    reviewed = [f.filter(pl.col("link_method") == ACCEPTED_METHOD).select(*KEY, "person_id")
                for f in accepted_facts_by_source.values() if f.height]
    records_schema = pl.Schema({"source": pl.String, "period": pl.String, "record_no": pl.String,
                                "household_id": pl.String, "district_code": pl.String})
    records = pl.DataFrame(schema=records_schema)
    if reviewed and uncertain.height:
        persons = register.select("person_id", "household_id").drop_nulls().unique()
        records = (pl.concat(reviewed).unique()
                   .join(persons, on="person_id", how="inner")
                   .join(uncertain, on="household_id", how="inner")
                   .select(*KEY, "household_id", "district_code")
                   .sort(*KEY, "household_id").cast(records_schema))
    evidence = (records.group_by("household_id")
                .agg(pending_records=pl.struct(*KEY).sort_by(*KEY)))
    flags = base.flags.join(uncertain.select("household_id", _u=pl.lit(True)),
                            on="household_id", how="left", maintain_order="left")
    if evidence.height:
        encoded = evidence.with_columns(pending_records=pl.col("pending_records").map_elements(
            lambda items: json.dumps([dict(x) for x in items], ensure_ascii=False),
            return_dtype=pl.String))
        flags = flags.join(encoded, on="household_id", how="left", maintain_order="left")
    else:
        flags = flags.with_columns(pending_records=pl.lit(None, pl.String))
    flags = flags.with_columns(pending_review=pl.col("_u").fill_null(False)).with_columns(
        pending_records=pl.when(pl.col("pending_review")).then(pl.col("pending_records")))
    return flags.drop("_u"), records, uncertain


def publish_review_queue(con, refs: Sequence, *, republished: Sequence[str],
                         assessed: Sequence, folders_of) -> None:
    """Write the fitted models, the pending review records and each assessed month's queue.

    Runs inside the run's publish transaction, after the folders' ``links`` (ranked candidates
    included) are written. A re-published folder's model replaces its earlier rows of
    ``match_models``. The review records that can change an uncertain household's outcome
    replace the assessed (period, district)'s rows of ``review_pending_records`` (like ``flags``,
    so a district run leaves the others' alone). Then each assessed month's queue replaces its
    rows of ``review_queue``: every review record of the month's folders, in
    :data:`QUEUE_ORDER`.

    Parameters
    ----------
    folders_of : Callable[[str], Sequence[str]]
        The delivery folders an assessed month reads (its run plan's).
    """
    from pipelines.warehouse.publish import period_rows

    for ref in refs:
        if ref.exists and ref.period in republished:
            con.execute("DELETE FROM match_models WHERE period = ?", [ref.period])
            if model_path(ref.dir).exists():
                con.execute("INSERT INTO match_models BY NAME SELECT * FROM read_parquet(?)",
                            [str(model_path(ref.dir))])
    for a in assessed:
        pending = getattr(a, "pending_records", None)
        con.execute("DELETE FROM review_pending_records WHERE assessed_period = ? "
                    "AND list_contains(?, district_code)", [a.period, list(a.districts)])
        if pending is not None and Path(pending).exists():
            con.execute("""INSERT INTO review_pending_records BY NAME
                SELECT ? AS assessed_period, district_code, household_id, source, period,
                       record_no FROM read_parquet(?)""", [a.period, str(pending)])
    for a in assessed:
        con.execute("DELETE FROM review_queue WHERE period = ?", [a.period])
        links = period_rows(con, "links", list(folders_of(a.period)))
        con.execute(QUEUE_ORDER.format(links=links), [a.period, a.period])


#: one assessed month's review queue: every review record of its folders, those that can change
#: a household's outcome that month (``review_pending_records``) first, then by match weight
#: (heaviest first, none last)
QUEUE_ORDER = """
    INSERT INTO review_queue (period, source, record_period, record_no, review_pending, queue_rank)
    SELECT $1, source, period, record_no, pending,
           row_number() OVER (ORDER BY pending DESC, match_weight DESC NULLS LAST,
                              source, period, record_no)
    FROM (SELECT k.source, k.period, k.record_no, k.match_weight,
                 EXISTS (SELECT 1 FROM review_pending_records p
                         WHERE p.assessed_period = $2 AND p.source = k.source
                           AND p.period = k.period AND p.record_no = k.record_no) AS pending
          FROM ({links}) AS k WHERE k.status = 'review')
"""


def pending_summary(assessed: Sequence) -> dict:
    """Run-summary counts: uncertain households per period and district, review records pending.

    Returns
    -------
    dict
        ``households_pending_review``: list of ``{period, district_code, households}``;
        ``review_records_pending``: review records that can change some household's outcome.
    """
    rows, records = [], set()
    for a in assessed:
        uncertain = getattr(a, "uncertain", None)
        if uncertain is not None and Path(uncertain).exists():
            counts = (pl.read_parquet(uncertain).group_by("district_code")
                      .agg(households=pl.len()).sort("district_code"))
            rows += [{"period": a.period, **c} for c in counts.to_dicts()]
        pending = getattr(a, "pending_records", None)
        if pending is not None and Path(pending).exists():
            records |= set(pl.read_parquet(pending).select(KEY).iter_rows())
    return {"households_pending_review": rows, "review_records_pending": len(records)}
