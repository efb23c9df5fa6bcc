"""The `greywatch` command: one Typer app; each verb lives in a small module of its own."""

from __future__ import annotations

import sys

import typer

from greywatch import (
    cmd_alerts,
    cmd_analyze,
    cmd_business,
    cmd_cases,
    cmd_crawl,
    cmd_exports,
    cmd_learn,
    cmd_link,
    cmd_registry,
    cmd_store,
    cmd_terms,
    cmd_web,
    cmd_worker,
)
from greywatch.console import make_console
from greywatch.errors import GreywatchError, mask_userinfo
from pipelines.settings import settings

app = typer.Typer(
    name="greywatch",
    help=(
        "Find and document online ads for illegal financial services "
        "(征信修复, 债务减免/停息挂账, 代理退保/退费, 代理维权/代投诉).\n\n"
        "Start with `greywatch demo`, then `greywatch leads`."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


@app.callback()
def _check_settings() -> None:
    """Validate every GREYWATCH_* variable before any command runs (one line if one is bad)."""
    settings()


# Order matters: cmd_cases adds `leads export` to the `leads` group that cmd_store defines.
for module in (
    cmd_analyze,
    cmd_crawl,
    cmd_store,
    cmd_registry,
    cmd_link,
    cmd_cases,
    cmd_learn,
    cmd_terms,
    cmd_exports,
    cmd_business,
    cmd_worker,
    cmd_web,
    cmd_alerts,
):
    module.register(app)

_err = make_console(stderr=True)


def report_error(exc: GreywatchError) -> int:
    """Print `exc` as one `error:` line (URL users and passwords masked) and a `hint:` line
    (greywatch's own words); return its exit code."""
    for label, text in (("error", mask_userinfo(str(exc))), ("hint", exc.hint)):
        if text:
            line = " ".join(text.split())  # one line, whatever the message
            _err.print(f"{label}: {line}", markup=False)
    return exc.exit_code


def main() -> None:
    """Entry point: run the app, turning GreywatchError into one line and its exit code."""
    try:
        app()
    except GreywatchError as exc:
        sys.exit(report_error(exc))
    except KeyboardInterrupt:
        _err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
