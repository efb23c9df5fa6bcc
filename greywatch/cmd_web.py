"""`greywatch web` (the browser workspace) and `greywatch users` (who may sign in to it).

The server binds 127.0.0.1 unless told otherwise: the workspace shows personal data, so
reaching it from other machines is a decision (`--host 0.0.0.0` behind HTTPS), not a default.
User changes made here are written to the audit log like any web action.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from greywatch.console import echo_json, make_console
from greywatch.errors import InputError
from greywatch.options import DbOption, JsonOption, db_session
from pipelines.display import beijing_bare, header

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

_out = make_console()
_err = make_console(stderr=True)

users_app = typer.Typer(
    help="Accounts of the web workspace: add, list, disable, set a password.\n\n"
    "Roles: viewer reads; analyst also reviews and exports; admin also manages sources, "
    "runs and users.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

NO_USERS_HINT = (
    "nobody can sign in yet: add a user first, e.g. "
    "`greywatch users add wang --role admin` (it asks for the password)"
)

RoleOption = Annotated[
    str, typer.Option("--role", metavar="ROLE", help="viewer | analyst | admin.")
]
PasswordStdinOption = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from the first line of stdin (for scripts)."
    ),
]


def web(
    host: Annotated[
        str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    secure_cookies: Annotated[
        bool,
        typer.Option(
            "--secure-cookies",
            help="Mark cookies Secure even if requests look like plain HTTP (behind an HTTPS "
            "proxy that does not forward the scheme).",
        ),
    ] = False,
    proxy_headers: Annotated[
        bool,
        typer.Option(
            "--proxy-headers",
            help="Trust X-Forwarded-Proto/For from a reverse proxy on 127.0.0.1.",
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Serve the web workspace: browse, review and export leads in a browser.

    Open http://127.0.0.1:8080/ and sign in with a user made by `greywatch users add`.
    Exits with 2 when the database has no user who can sign in.
    """
    import uvicorn

    from greywatch.web.app import create_app
    from storage.db import database_url
    from storage.users import count_users

    with db_session(db, create=False, write=False) as session:
        if count_users(session) == 0:
            raise InputError("the database has no users", hint=NO_USERS_HINT)
    app = create_app(database_url(db), secure_cookies=secure_cookies or None)
    _err.print(f"greywatch web: http://{host}:{port}/ (Ctrl-C stops it)", markup=False)
    uvicorn.run(app, host=host, port=port, proxy_headers=proxy_headers, log_level="info")


def _read_password(from_stdin: bool) -> str:
    """The new password: first line of stdin, or asked twice on the terminal."""
    from greywatch.web.auth import check_password

    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise InputError("--password-stdin: stdin is empty", hint="echo the password into it")
        return check_password(line.rstrip("\r\n"))
    password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return check_password(password)


def _audit(session: Session, action: str, name: str, detail: dict[str, Any]) -> None:
    """Record a user change in the audit log, by the OS user who ran the command."""
    from storage.audit import record
    from storage.exports import current_user

    record(session, current_user(), action, f"user:{name}", detail, "cli")


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The name to sign in with.")],
    role: RoleOption = "viewer",
    password_stdin: PasswordStdinOption = False,
    db: DbOption = None,
) -> None:
    """Add a user who can sign in to `greywatch web` (the password is asked for)."""
    from greywatch.web.auth import hash_password
    from storage.users import add_user, check_name, check_role

    check_name(name), check_role(role)  # before asking for a password
    password = _read_password(password_stdin)
    with db_session(db, create=True) as session:
        user = add_user(session, name, role, hash_password(password))
        _audit(session, "user_add", user.name, {"role": user.role})
    _out.print(f"added user {user.name} ({user.role})", markup=False)


@users_app.command("list")
def users_list(as_json: JsonOption = False, db: DbOption = None) -> None:
    """List users: name, role, whether disabled, created and last sign-in (Beijing time)."""
    from pipelines.display import iso
    from storage.users import list_users

    with db_session(db, create=False, write=False) as session:
        found = list_users(session)
    if as_json:
        data = [
            {
                "name": u.name,
                "role": u.role,
                "disabled": u.disabled,
                "created_at": iso(u.created_at),
                "last_login_at": iso(u.last_login_at),
            }
            for u in found
        ]
        echo_json(json.dumps(data, ensure_ascii=False, indent=1))
        return
    if not found:
        _out.print(f"no users. {NO_USERS_HINT}", markup=False)
        return
    table = Table(title=f"{len(found)} users", title_justify="left")
    for col in ("name", "role", "state", header("created"), header("last sign-in")):
        table.add_column(col, no_wrap=True)
    for u in found:
        table.add_row(
            Text(u.name),
            u.role,
            "disabled" if u.disabled else "active",
            beijing_bare(u.created_at),
            beijing_bare(u.last_login_at) or "-",
        )
    _out.print(table)


@users_app.command("disable")
def users_disable(
    name: Annotated[str, typer.Argument(help="The user to disable.")],
    enable: Annotated[bool, typer.Option("--enable", help="Enable the user again.")] = False,
    db: DbOption = None,
) -> None:
    """Stop a user signing in (their sessions end now); --enable lets them in again."""
    from storage.users import set_disabled

    with db_session(db, create=False) as session:
        user = set_disabled(session, name, not enable)
        _audit(session, "user_enable" if enable else "user_disable", user.name, {})
    _out.print(f"{'enabled' if enable else 'disabled'} user {user.name}", markup=False)


@users_app.command("passwd")
def users_passwd(
    name: Annotated[str, typer.Argument(help="The user whose password to set.")],
    password_stdin: PasswordStdinOption = False,
    db: DbOption = None,
) -> None:
    """Set a user's password (their sessions end: they sign in again with the new one)."""
    from greywatch.web.auth import hash_password
    from storage.users import find_user, set_password_hash

    with db_session(db, create=False, write=False) as session:
        if find_user(session, name) is None:
            raise InputError(f"no user named {name.strip()!r}", hint="`greywatch users list`")
    password = _read_password(password_stdin)
    with db_session(db, create=False) as session:
        user = set_password_hash(session, name, hash_password(password))
        _audit(session, "user_passwd", user.name, {})
    _out.print(f"password set for {user.name}", markup=False)


def register(app: typer.Typer) -> None:
    """Add `web` and the `users` group to the root app."""
    app.command("web")(web)
    app.add_typer(users_app, name="users")
