"""``python -m pipelines.cli``: the same as the ``hedui`` command."""

from pipelines.cli import app

if __name__ == "__main__":  # pragma: no cover
    app()
