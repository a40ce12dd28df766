"""Chinese usage errors: what a clerk reads after mistyping a ``hedui`` command line.

Click (vendored by typer 0.29 as ``typer._click``) words its usage errors in English ("Missing
option '--incoming'.", "No such option: --bogus", "Value 'x' is not a valid int."). The command
classes of :mod:`pipelines.cli.zh` catch each usage error where the command line is parsed and
raise it again worded here, with the same exit code (2) and context; typer then prints it under
its Chinese usage line. Typer's own two words around it (the panel title and the "Try … --help"
line) are its public settings ``rich_utils.ERRORS_PANEL_TITLE`` and ``rich_utils.RICH_HELP``,
set by :func:`configure`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import typer.rich_utils
from typer._click.exceptions import (  # typer 0.29 vendors click
    BadOptionUsage,
    BadParameter,
    MissingParameter,
    NoArgsIsHelpError,
    NoSuchOption,
    UsageError,
)
from typer._click.utils import echo

#: click's wording of a bad value (typer's own coercion and path checks) -> Chinese
_KINDS = {"integer": "整数", "int": "整数", "number": "数字", "float": "数字", "date": "日期",
          "boolean": "是或否", "bool": "是或否", "string": "文字", "str": "文字"}
_VALUE_WORDS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"Input should be a valid (\w+)"), lambda m: f"应为{_KINDS.get(m[1], '有效的值')}"),
    (re.compile(r"Value (.+) is not a valid (int|integer)\.?$"), lambda m: f"{m[1]} 不是整数"),
    (re.compile(r"Value (.+) is not a valid (float)\.?$"), lambda m: f"{m[1]} 不是数字"),
    (re.compile(r"Value (.+) is not a valid (\w+)\.?$"), lambda m: f"{m[1]} 不是有效的值"),
    (re.compile(r"(.+) is not one of (.+?)\.?$"), lambda m: f"{m[1]} 不是可选值之一（可选：{m[2]}）"),
    (re.compile(r"(?:File|Directory|Path) (.+) does not exist\.?$"), lambda m: f"{m[1]} 不存在"),
    (re.compile(r"(?:File|Directory|Path) (.+) is a directory\.?$"), lambda m: f"{m[1]} 是文件夹，应为文件"),
    (re.compile(r"(?:File|Directory|Path) (.+) is a file\.?$"), lambda m: f"{m[1]} 是文件，应为文件夹"),
    (re.compile(r"(.+) is not in the range (.+?)\.?$"), lambda m: f"{m[1]} 不在范围 {m[2]} 内"),
)
#: click's other usage errors -> Chinese
_USAGE_WORDS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"Got unexpected extra argument(?:\(s\)|s)? \((.*)\)$"), lambda m: f"多余的参数：{m[1]}"),
    (re.compile(r"No such command (.+)\.$"), lambda m: f"没有这个命令：{m[1]}"),
    (re.compile(r"Missing command\.$"), lambda m: "缺少命令"),
    (re.compile(r"Option (.+) requires (?:an argument|\d+ arguments)\.$"),
     lambda m: f"选项 {m[1]} 后面缺少它的值"),
    (re.compile(r"Option (.+) does not take a value\.$"), lambda m: f"选项 {m[1]} 不带值"),
)


def _reword(text: str, table: Sequence[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]]) -> str | None:
    for pattern, words in table:
        match = pattern.match(text.strip())
        if match:
            return words(match)
    return None


def _hint(exc: BadParameter) -> str:
    hint = exc.param_hint
    if hint is None and exc.param is not None:
        hint = exc.param.get_error_hint()
    if hint is None:
        return ""
    return hint if isinstance(hint, str) else " / ".join(hint)


def usage_zh(exc: UsageError) -> str:
    """A usage error's message in Chinese (an unknown English message is kept, after 用法错误：)."""
    if isinstance(exc, MissingParameter):
        kind = exc.param_type or (exc.param.param_type_name if exc.param is not None else "")
        word = {"option": "选项", "argument": "参数", "parameter": "参数"}.get(kind, "参数")
        return f"缺少{word} {_hint(exc)}".rstrip()
    if isinstance(exc, NoSuchOption):
        maybe = f"（是不是 {'、'.join(sorted(exc.possibilities))}？）" if exc.possibilities else ""
        return f"没有这个选项：{exc.option_name}{maybe}"
    if isinstance(exc, BadParameter):
        value = _reword(exc.message, _VALUE_WORDS) or exc.message
        hint = _hint(exc)
        return f"{hint} 的值不对：{value}" if hint else f"值不对：{value}"
    if isinstance(exc, BadOptionUsage):
        return _reword(exc.message, _USAGE_WORDS) or f"选项 {exc.option_name} 用法不对：{exc.message}"
    return _reword(exc.message, _USAGE_WORDS) or f"用法错误：{exc.message}"


class ZhUsageError(UsageError):
    """A usage error already worded in Chinese (never worded twice), shown in Chinese."""

    def show(self, file: Any = None) -> None:
        """The usage line, how to get help and the error, as click shows them but in Chinese."""
        color = self.ctx.color if self.ctx is not None else None
        if self.ctx is not None:
            hint = ""
            if self.ctx.command.get_help_option(self.ctx) is not None:
                hint = f"运行 '{self.ctx.command_path} {self.ctx.help_option_names[0]}' 查看帮助。\n"
            echo(f"{self.ctx.get_usage()}\n{hint}", file=file, err=file is None, color=color)
        echo(f"错误：{self.format_message()}", file=file, err=file is None, color=color)


def in_chinese(exc: UsageError) -> UsageError:
    """``exc`` worded in Chinese, with its context and exit code."""
    if isinstance(exc, ZhUsageError | NoArgsIsHelpError):
        return exc  # worded already, or the help itself (a command run without arguments)
    worded = ZhUsageError(usage_zh(exc), ctx=exc.ctx)
    worded.exit_code = exc.exit_code
    return worded


def configure() -> None:
    """Typer's words around a usage error, in Chinese (its public ``rich_utils`` settings)."""
    typer.rich_utils.ERRORS_PANEL_TITLE = "错误"
    typer.rich_utils.RICH_HELP = "运行 [blue]'{command_path} {help_option}'[/] 查看帮助。"
