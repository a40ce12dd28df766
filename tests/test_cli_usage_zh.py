"""A mistyped ``hedui`` command line is refused in Chinese, exit code 2 (pipelines/cli/usage_zh.py).

Click words usage errors in English ("Missing option", "No such option", "Try … for help",
"Error:"); the command classes re-raise each worded in Chinese, same exit code and context.
"""

from __future__ import annotations

import re

import pytest
from typer._click.exceptions import (
    BadOptionUsage,
    BadParameter,
    MissingParameter,
    NoSuchOption,
    UsageError,
)
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.cli.usage_zh import in_chinese, usage_zh

from helpers.english import english_words

CASES = [
    (["monthly"], "缺少选项 '--incoming'"),
    (["monthly", "--bogus"], "没有这个选项：--bogus"),
    (["report", "--period", "2026-10", "--housholds", "3"], "没有这个选项：--housholds"),
    (["bogus"], "没有这个命令：'bogus'"),
    (["monthly", "--incoming", "x", "--period", "2026-10", "extra"], "多余的参数：extra"),
    (["sample", "--households", "abc", "--out", "x"], "'--households' 的值不对：应为整数"),
    (["monthly", "--incoming"], "选项 '--incoming' 后面缺少它的值"),
    (["decisions", "nothing-such"], "没有这个命令：'nothing-such'"),
]


@pytest.mark.parametrize(("args", "expected"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_a_mistyped_command_line_is_refused_in_chinese_with_exit_code_2(args, expected, tmp_path):
    done = CliRunner().invoke(app, args, terminal_width=120)
    text = done.output
    assert done.exit_code == 2, text
    assert expected in text, text
    assert "Error" not in text and "Try '" not in text and "Usage:" not in text, text
    # the words the clerk typed (an option, a command, a value) are echoed back; nothing else
    typed = {w for a in args for w in re.findall(r"[A-Za-z]{4,}", a)}
    assert [w for w in english_words(text.replace("'", " ")) if w not in typed] == [], text


def test_a_command_run_without_arguments_still_shows_its_help():
    done = CliRunner().invoke(app, ["decisions"], terminal_width=120)
    assert "记录经办人" in done.output and "错误" not in done.output


def test_each_kind_of_usage_error_is_worded_and_an_unknown_message_is_kept():
    assert usage_zh(MissingParameter(param_hint="'--period'", param_type="option")) == "缺少选项 '--period'"
    assert usage_zh(MissingParameter(param_hint="'FILE'", param_type="argument")) == "缺少参数 'FILE'"
    assert usage_zh(NoSuchOption("--perod", possibilities=["--period"])) == (
        "没有这个选项：--perod（是不是 --period？）")
    assert usage_zh(BadParameter("'x' is not one of 'prefect', 'local'.", param_hint="'--orchestrator'")) == (
        "'--orchestrator' 的值不对：'x' 不是可选值之一（可选：'prefect', 'local'）")
    assert usage_zh(BadParameter("Directory 'a/b' does not exist.", param_hint="'--incoming'")) == (
        "'--incoming' 的值不对：'a/b' 不存在")
    # a callback's own (Chinese) message is kept as it is
    assert usage_zh(BadParameter("月份应为 YYYY-MM", param_hint="'--period'")) == (
        "'--period' 的值不对：月份应为 YYYY-MM")
    assert usage_zh(BadOptionUsage("--x", "Option '--x' does not take a value.")) == "选项 '--x' 不带值"
    # a message this module does not know is kept, marked as a usage error, never dropped
    assert usage_zh(UsageError("Something new.")) == "用法错误：Something new."


def test_a_worded_error_keeps_its_exit_code_and_is_not_worded_twice():
    worded = in_chinese(NoSuchOption("--bogus"))
    assert worded.exit_code == 2 and worded.format_message() == "没有这个选项：--bogus"
    assert in_chinese(worded) is worded
