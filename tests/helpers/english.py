"""English words meant for people in text that should be Chinese (codes, paths and options excepted).

A run of four or more ASCII letters is an English word unless the token holding it is something a
supervisor types or looks up rather than reads: a stable code (``INCOME_DROP``, ``tax_wages``: an
underscore, or a lower-case code in brackets beside its label: ``(valid)``), a file or path (``bank_boc.xlsx``, ``warehouse/hedui.duckdb``), an option
(``--period``), a hash (``3f9ac2e1``), or one of a few names (the program, its commands, Prefect).
Shorter runs (``run``, ``s``) are not checked: too many false alarms, too little English.
"""

from __future__ import annotations

import re

#: names a supervisor types or recognises: the program and its commands, the tools it names
NAMES = frozenset({
    "hedui", "monthly", "quarterly", "report", "sample", "serve", "decisions", "import", "notice",
    "whatif", "Prefect", "Dask", "DuckDB", "SIGTERM", "Ctrl-C", "XLSX",
})
_TOKEN = re.compile(r"[!-~]+")  # a run of printable ASCII without spaces
_WORD = re.compile(r"[A-Za-z]{4,}")
_EDGES = "()[]{}<>:;,.!?'\"`|*#=+~"


def _allowed(token: str) -> bool:
    if token.startswith("--"):
        return True
    bare = token.strip(_EDGES)
    if not bare:
        return True
    if "/" in bare or "\\" in bare or re.search(r"\w\.\w", bare):
        return True  # a path or a file name
    if "_" in bare:
        return True  # a stable code: INCOME_DROP, tax_wages, quarter_summary
    if re.fullmatch(r"\([a-z0-9]+\)", token.rstrip(_EDGES.replace(")", ""))):
        return True  # a code in brackets beside its Chinese label: 「18位有效」(valid)
    if re.fullmatch(r"[0-9a-f]{6,}", bare) and re.search(r"\d", bare):
        return True  # a version hash
    return bare in NAMES


def english_words(text: str) -> list[str]:
    """The English words of ``text`` meant for a person (empty when it is all Chinese)."""
    found = []
    for token in _TOKEN.findall(text):
        if not _allowed(token):
            found += _WORD.findall(token)
    return found
