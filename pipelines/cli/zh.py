"""Chinese ``--help``: the command and group classes every ``hedui`` command is built with.

Click and Typer write their own headings and notes in English ("Usage:", "Options", "Commands",
"Show this message and exit.", "[default: …]", "[required]"). The supported place to change them
is the command class (``cls=`` of ``typer.Typer`` and ``app.command``) and the formatter it makes
(``Context.formatter_class``); nothing in click or typer is patched. Typer 0.29 ships its own copy
of click (``typer._click``): these classes extend that copy, not the ``click`` package. The formatter also wraps by
display width: a Chinese character takes two columns, and click's wrapping counts it as one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import typer
import typer.core
from rich.cells import cell_len
from typer._click import Command, Context, HelpFormatter, Parameter  # typer 0.29 vendors click
from typer._click.exceptions import UsageError

from pipelines.cli.usage_zh import configure, in_chinese

#: what typer appends to an option's help, in brackets, and how a clerk reads it
_EXTRA_WORDS = (("default: ", "默认："), ("env var: ", "环境变量："))
_REQUIRED = "必填"
HELP_OPTION_HELP = "显示本帮助并退出。"
OPTIONS_METAVAR = "[选项]"
SUBCOMMAND_METAVAR = "命令 [参数]..."
#: a piece never split across lines: a bracketed note (``[必填]``), a run of non-space ASCII (an
#: option, a path, a code) or one character, with the opening brackets before it and the closing
#: punctuation after it (a line neither ends with "（" nor starts with "，")
_PIECE = re.compile(r"\s+|(?:\[[^\[\]]*\]|[（「『《]*(?:[!-~]+|.))[，。、；：）」』》！？]*", re.S)


def _wrap(text: str, width: int, first: str = "", rest: str = "") -> list[str]:
    """``text`` (one paragraph) in lines of at most ``width`` display columns, indents included.

    Lines break at spaces or between two Chinese characters; an ASCII run (``--incoming``,
    ``warehouse/hedui.duckdb``) stays whole unless it alone is wider than a line.
    """
    # a line break inside Chinese text is no space (a docstring's lines are joined as written)
    text = re.sub(r"(?<=[^\x00-\x7f])[ \t]*\n\s*(?=[^\x00-\x7f])|(?<=[，。、；：）])[ \t]*\n\s*", "", text)
    lines: list[str] = []
    line, start = first, cell_len(first)
    used = start
    for piece in _PIECE.findall(" ".join(text.split())):
        if piece.isspace():
            if used > start:
                line, used = line + " ", used + 1
            continue
        size = cell_len(piece)
        if used + size > width and used > start:
            lines.append(line.rstrip())
            line, start = rest, cell_len(rest)
            used = start
        line, used = line + piece, used + size
    if used > start:
        lines.append(line.rstrip())
    return lines


def _paragraphs(text: str) -> Iterable[tuple[bool, str]]:
    r"""The paragraphs of a help text: (kept as written, text); click's ``\b`` keeps one unwrapped."""
    for block in re.split(r"\n\s*\n", text.strip("\n")):
        if block.lstrip().startswith("\b"):
            yield True, block.split("\n", 1)[1] if "\n" in block else ""
        else:
            yield False, block


class ZhFormatter(HelpFormatter):
    """Click's help formatter with Chinese headings and wrapping by display width."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        """The usage line, headed ``用法：`` instead of ``Usage:``."""
        super().write_usage(prog, args, prefix="用法：" if prefix is None else prefix)

    def write_heading(self, heading: str) -> None:
        """A section heading with a Chinese colon: ``选项：``."""
        self.write(f"{'':>{self.current_indent}}{heading}：\n")

    def write_text(self, text: str) -> None:
        """A help text, re-wrapped paragraph by paragraph."""
        indent = " " * self.current_indent
        out = []
        for kept, block in _paragraphs(text):
            if kept:
                out.append("\n".join(indent + line for line in block.splitlines()))
            else:
                out.append("\n".join(_wrap(block, self.width, indent, indent)))
        self.write("\n\n".join(out) + "\n")

    def write_dl(self, rows: Iterable[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
        """A definition list (options, commands): the second column wrapped by display width."""
        rows = list(rows)
        first_col = min(max((cell_len(a) for a, _ in rows), default=0), col_max) + col_spacing
        pad = " " * (first_col + self.current_indent)
        for term, text in rows:
            head = " " * self.current_indent + term
            if not text:
                self.write(head + "\n")
                continue
            if cell_len(term) <= first_col - col_spacing:
                head += " " * (first_col - cell_len(term))
            else:
                self.write(head + "\n")
                head = pad
            width = max(self.width, first_col + self.current_indent + 12)
            lines: list[str] = []
            for _kept, block in _paragraphs(text):
                lines += _wrap(block, width, head if not lines else pad, pad)
            self.write("\n".join(lines) + "\n")


class ZhContext(typer.Context):
    """A click context whose help formatter is :class:`ZhFormatter`."""

    formatter_class = ZhFormatter


def _zh_record(param: Parameter, ctx: Context) -> tuple[str, str] | None:
    """``param``'s help line, with typer's bracketed note (``[default: x; required]``) in Chinese."""
    record = param.get_help_record(ctx)
    if record is None:
        return None
    names, text = record
    if param.param_type_name == "argument":
        names = names.split(" ")[0]  # its metavar (FILE), without typer's English type (<file>)
    own = getattr(param, "help", None) or ""
    tail = text[len(own):] if text.startswith(own) else ""
    match = re.fullmatch(r"(\s*)\[(.*)\]", tail, re.S)
    if not match:
        return names, text
    parts = []
    for part in match.group(2).split("; "):
        if part == "required":
            part = _REQUIRED
        for english, chinese in _EXTRA_WORDS:
            if part.startswith(english):
                part = chinese + part[len(english):]
        parts.append(part)
    return names, f"{own}{match.group(1)}[{'；'.join(parts)}]"


def _format_params(command: Command, ctx: Context, formatter: HelpFormatter) -> None:
    """The ``参数`` (arguments) and ``选项`` (options) sections of ``command``'s help."""
    sections: dict[str, list[tuple[str, str]]] = {"argument": [], "option": []}
    for param in command.get_params(ctx):
        record = _zh_record(param, ctx)
        if record is not None and param.param_type_name in sections:
            sections[param.param_type_name].append(record)
    for kind, title in (("argument", "参数"), ("option", "选项")):
        if sections[kind]:
            with formatter.section(title):
                formatter.write_dl(sections[kind])


def _zh_help_option(option: typer.core.TyperOption | None) -> typer.core.TyperOption | None:
    if option is not None:
        option.help = HELP_OPTION_HELP
    return option


class ZhCommand(typer.core.TyperCommand):
    """A ``hedui`` command whose ``--help`` is all Chinese but for names, codes and metavars."""

    context_class = ZhContext

    def __init__(self, name: str | None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.options_metavar = OPTIONS_METAVAR

    def get_help_option(self, ctx: Context) -> typer.core.TyperOption | None:
        """Click's ``--help`` option, described in Chinese."""
        return _zh_help_option(super().get_help_option(ctx))

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        """The arguments and options, under Chinese headings."""
        _format_params(self, ctx, formatter)

    def make_context(self, info_name: str | None, args: list[str], parent: Context | None = None,
                     **extra: Any) -> Context:
        """Parse the command line; a usage error is raised worded in Chinese."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except UsageError as exc:
            raise in_chinese(exc) from None


class ZhGroup(typer.core.TyperGroup):
    """The ``hedui`` app and its sub-groups (``decisions``), with Chinese ``--help``."""

    context_class = ZhContext

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.options_metavar = OPTIONS_METAVAR
        self.subcommand_metavar = SUBCOMMAND_METAVAR

    def get_help_option(self, ctx: Context) -> typer.core.TyperOption | None:
        """Click's ``--help`` option, described in Chinese."""
        return _zh_help_option(super().get_help_option(ctx))

    def make_context(self, info_name: str | None, args: list[str], parent: Context | None = None,
                     **extra: Any) -> Context:
        """Parse the command line; a usage error is raised worded in Chinese."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except UsageError as exc:
            raise in_chinese(exc) from None

    def invoke(self, ctx: Context) -> Any:
        """Run the sub-command; a usage error on the way is worded in Chinese.

        That covers an unknown or missing command and the sub-command's own parse.
        """
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            raise in_chinese(exc) from None

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        """The options, then the commands, under Chinese headings."""
        _format_params(self, ctx, formatter)
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                # the whole first line: click's short help cuts at a space or "." (none in Chinese)
                rows.append((name, (command.short_help or command.help or "").strip().split("\n")[0]))
        if rows:
            with formatter.section("命令"):
                formatter.write_dl(rows)


# typer prints a usage error under a title and a "Try … --help" line: both Chinese
configure()
