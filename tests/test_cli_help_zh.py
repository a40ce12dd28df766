"""``hedui --help`` and every command's ``--help`` are Chinese (names, codes and metavars excepted).

The commands are enumerated from the Typer app, so a command added later without Chinese help
(or without ``cls=ZhCommand``, which prints click's "Usage:", "Options", "Show this message and
exit.") fails here. Words a clerk types rather than reads are tolerated by
:func:`helpers.english.english_words` (options, paths, codes, command names); on top of those,
each command's own metavars (``DIR``, ``FILE``, ``CRON``) and choice values (``prefect``,
``local``) are tolerated, read from the command itself.
"""

from __future__ import annotations

import re
from enum import Enum

import pytest
import typer
import typer.main
from rich.cells import cell_len
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.cli.zh import ZhCommand, ZhGroup

from helpers.english import english_words

#: click's and typer's own help words: none may be left in a help page
CLICK_WORDS = ("Usage:", "Options:", "Commands:", "Arguments:", "Show this message and exit",
               "[default:", "[required]", "[OPTIONS]", "COMMAND [ARGS]", "<int", "<file>", "<dir>")
#: typer's built-in English that cannot be changed through its supported settings: none is left.
#: Name a word here (and in docs) only if a typer upgrade brings one back that cannot be set.
TYPER_BUILTIN: frozenset[str] = frozenset()


def _commands(group, path=()):
    """``(path, click command)`` of the group and every command under it, recursively."""
    yield path, group
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, (*path, name))


def _typed_words(command) -> set[str]:
    """The words of ``command``'s metavars and choice values: what a clerk types, not reads."""
    words: set[str] = set()
    for param in command.params:
        kind = getattr(getattr(param, "type_descriptor", None), "annotation", None)
        choices = [m.value for m in kind] if isinstance(kind, type) and issubclass(kind, Enum) else []
        for typed in [param.metavar or "", *map(str, choices)]:
            words.update(re.findall(r"[A-Za-z]{4,}", typed))
    return words


def _help(target: typer.Typer, path, width=120) -> str:
    done = CliRunner().invoke(target, [*path, "--help"], terminal_width=width)
    assert done.exit_code == 0, done.output
    return done.output


def _english_left(target, path, command) -> list[str]:
    allowed = _typed_words(command) | TYPER_BUILTIN
    return [w for w in english_words(_help(target, path)) if w not in allowed]


ROOT = typer.main.get_command(app)
ALL = list(_commands(ROOT))


def test_every_registered_command_is_enumerated():
    names = {" ".join(path) for path, _ in ALL}
    # the commands the README documents; a new one is enumerated too (and checked below)
    assert {"", "monthly", "quarterly", "report", "sample", "serve", "notice", "whatif",
            "decisions", "decisions import"} <= names
    assert all(isinstance(c, ZhGroup if hasattr(c, "commands") else ZhCommand) for _, c in ALL)


@pytest.mark.parametrize("path,command", ALL, ids=[" ".join(p) or "hedui" for p, _ in ALL])
def test_help_has_no_english_for_people(path, command):
    text = _help(app, path)
    assert _english_left(app, path, command) == [], text
    for word in CLICK_WORDS:
        assert word not in text, (word, text)
    assert text.startswith("用法：hedui")
    assert "显示本帮助并退出。" in text
    if command.params:
        assert "选项：" in text


@pytest.mark.parametrize("path,command", ALL, ids=[" ".join(p) or "hedui" for p, _ in ALL])
def test_help_fits_an_80_column_terminal(path, command):
    # a Chinese character takes two columns: click alone would wrap at 80 characters (160 columns)
    lines = _help(app, path, width=80).splitlines()
    assert max(cell_len(line) for line in lines) <= 80, "\n".join(lines)
    # a line never starts with closing punctuation, and a bracketed note is never split
    assert not [line for line in lines if line.strip()[:1] in set("，。、；：）")]
    text = "\n".join(lines)
    assert text.count("[") == text.count("]")
    assert not re.search(r"\[[^\]\n]*\n", text), text


def test_the_command_list_shows_each_summary_whole():
    listing = "".join(line.strip() for line in _help(app, ()).splitlines())
    for name, command in ROOT.commands.items():
        summary = (command.help or "").strip().splitlines()[0]
        assert "".join(summary.split()) in "".join(listing.split()), (name, summary)
        assert english_words(summary) == [], summary


def test_defaults_and_required_options_are_marked_in_chinese():
    monthly = " ".join(_help(app, ("monthly",)).split())
    assert "核对的月份，格式 YYYY-MM。 [必填]" in monthly
    assert "[默认：prefect]" in monthly
    assert "warehouse/hedui.duckdb" in monthly
    sample = " ".join(_help(app, ("sample",)).split())
    assert "[默认：500；x>=1]" in sample and "[默认：2026-05..2026-10]" in sample
    imported = _help(app, ("decisions", "import"))
    assert "参数：" in imported and "FILE  区县复核工作簿" in imported
    assert "用法：hedui decisions import [选项] {FILE}" in imported


def test_exit_codes_are_explained_in_the_app_help():
    text = "".join(_help(app, ()).split())
    assert "退出码：0完成；1" in text and "2用法错误" in text


# ------------------------------------------------------------------ the check can fail


def _toy_app(cls, help_text: str) -> typer.Typer:
    toy = typer.Typer(cls=ZhGroup, rich_markup_mode=None, add_completion=False)

    @toy.command(cls=cls, help=help_text)
    def run(period: str = typer.Option(..., "--period", metavar="YYYY-MM", help=help_text)) -> None:
        pass  # pragma: no cover - only its help is read

    @toy.command(cls=cls)
    def other() -> None:
        pass  # pragma: no cover - a second command keeps ``run`` a sub-command

    return toy


def test_a_command_with_english_help_is_caught():
    toy = _toy_app(ZhCommand, "Load the folders of the month and publish the flags.")
    command = typer.main.get_command(toy).commands["run"]
    assert {"Load", "folders", "month", "publish", "flags"} <= set(_english_left(toy, ("run",), command))


def test_a_command_without_the_chinese_class_is_caught():
    toy = _toy_app(typer.core.TyperCommand, "读入本月的文件夹。")
    command = typer.main.get_command(toy).commands["run"]
    text = _help(toy, ("run",))
    assert "Usage:" in text and "Show this message and exit." in text
    assert {"Usage", "Options", "Show", "message", "exit", "required"} <= set(_english_left(toy, ("run",), command))


# ------------------------------------------------------------------ wrapping by display width


def test_wrap_counts_a_chinese_character_as_two_columns():
    from pipelines.cli.zh import _wrap

    lines = _wrap("核对" * 20, 20, "  ", "  ")
    # 2 columns of indent and 9 characters (18 columns) a line: 40 characters in 5 lines
    assert [cell_len(line) for line in lines] == [20, 20, 20, 20, 10]
    assert "".join(line.strip() for line in lines) == "核对" * 20


def test_wrap_keeps_paths_options_and_notes_whole():
    from pipelines.cli.zh import _wrap

    text = "仓库文件，默认为 warehouse/hedui.duckdb，可用 --warehouse 改。 [默认：0 3 10 1,4,7,10 *]"
    lines = _wrap(text, 24)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    joined = "\n".join(lines)
    for whole in ("warehouse/hedui.duckdb，", "--warehouse", "[默认：0 3 10 1,4,7,10 *]"):
        assert whole in joined, joined
    assert not [line for line in lines if line[:1] in "，。）"]


def test_wrap_joins_a_docstring_line_break_without_a_space_between_chinese():
    from pipelines.cli.zh import _wrap

    assert _wrap("核对窗口内\n    各月的文件夹。\n    SIGTERM 停止；运行 hedui serve\n    之前", 200) == [
        "核对窗口内各月的文件夹。SIGTERM 停止；运行 hedui serve 之前"]
