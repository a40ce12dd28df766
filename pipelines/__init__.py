"""hedui: the household means-testing cross-check pipeline (核对).

Stages live in plain modules (``land``, ``clean``, ``match``, ``assess``, ``warehouse``); the
Prefect flows in ``flows`` compose them and ``cli`` is the ``hedui`` command.
"""

__version__ = "0.1.0"
