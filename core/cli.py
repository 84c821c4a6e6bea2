"""The `qi` command: `qi db upgrade`, `qi create-admin`, `qi demo`, `qi export-schema`, `qi run`,
`qi jobs`."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import func, select

from core import migrate
from core.db import db
from core.errors import InvalidInput
from core.identity import service
from core.identity.models import Role, User

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "graphql" / "schema.graphql"


def _create_app():  # type: ignore[no-untyped-def]
    from core.app import create_app

    return create_app()


def _fail_on_invalid(exc: InvalidInput) -> None:
    for problem in exc.problems:
        click.echo(f"  {problem.field}: {problem.message}", err=True)
    raise SystemExit(1)


@click.group("db", help="Database migrations.")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Migrate the database to the newest revision (or --revision).")
@click.option("--revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    migrate.upgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"database at {migrate.current_revision(current_app.config['DATABASE_URL'])}")


@db_group.command("downgrade", help="Step the database back to --revision.")
@click.option("--revision", required=True)
@with_appcontext
def db_downgrade(revision: str) -> None:
    migrate.downgrade(current_app.config["DATABASE_URL"], revision)


@db_group.command("current", help="Print the database's revision.")
@with_appcontext
def db_current() -> None:
    click.echo(migrate.current_revision(current_app.config["DATABASE_URL"]) or "(empty)")


def _create_staff(role: Role, display_name: str, email: str | None, phone: str | None,
                  password: str) -> User:
    try:
        return service.create_user(display_name=display_name, password=password, roles=[role],
                                   email=email, phone=phone, audit_action="user.create_staff")
    except InvalidInput as exc:
        _fail_on_invalid(exc)
        raise


@click.command("create-admin", help="Create a system administrator (the first one, or more).")
@click.option("--name", "display_name", default="系统管理员", show_default=True)
@click.option("--email")
@click.option("--phone")
@click.password_option()
@with_appcontext
def create_admin(display_name: str, email: str | None, phone: str | None, password: str) -> None:
    user = _create_staff(Role.SYSADMIN, display_name, email, phone, password)
    click.echo(f"system administrator #{user.id} created")


@click.command("create-user", help="Create an operator or regulator account (a system admin's act).")
@click.option("--role", type=click.Choice([Role.OPERATOR.value, Role.REGULATOR.value]), required=True)
@click.option("--name", "display_name", required=True)
@click.option("--email")
@click.option("--phone")
@click.password_option()
@with_appcontext
def create_user(role: str, display_name: str, email: str | None, phone: str | None,
                password: str) -> None:
    user = _create_staff(Role(role), display_name, email, phone, password)
    click.echo(f"{role} #{user.id} created")


@click.command("demo", help="Load the demo data set and print its logins.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
@with_appcontext
def demo(if_empty: bool) -> None:
    from core.demo import load_demo

    if if_empty and db.session.scalar(select(func.count()).select_from(User)):
        click.echo("database not empty: demo data not loaded")
        return
    for line in load_demo():
        click.echo(line)


@click.command("export-schema", help="Write the GraphQL SDL to graphql/schema.graphql.")
@click.option("--output", type=click.Path(path_type=Path), default=SCHEMA_PATH, show_default=True)
@with_appcontext
def export_schema(output: Path) -> None:
    output.write_text(schema_sdl(current_app))
    click.echo(f"wrote {output}")


def schema_sdl(app: Flask) -> str:
    from graphql import lexicographic_sort_schema, print_schema

    from api.view import current_schema

    schema = current_schema(app)._schema
    return print_schema(lexicographic_sort_schema(schema)) + "\n"


@click.group("storage", help="Object storage maintenance.")
def storage_group() -> None:
    pass


@storage_group.command("sweep", help="Delete stored objects that no document refers to.")
@click.option("--grace-hours", type=int, default=None,
              help="Keep orphans younger than this (default: STORAGE_SWEEP_GRACE_HOURS, 24).")
@click.option("--dry-run", is_flag=True, help="List what would be deleted, delete nothing.")
@with_appcontext
def storage_sweep(grace_hours: int | None, dry_run: bool) -> None:
    from datetime import timedelta

    from core.documents.service import sweep_orphans

    hours = current_app.config["STORAGE_SWEEP_GRACE_HOURS"] if grace_hours is None else grace_hours
    removed = sweep_orphans(older_than=timedelta(hours=hours), dry_run=dry_run)
    for key in removed:
        click.echo(f"{'would remove' if dry_run else 'removed'} {key}")
    click.echo(f"{len(removed)} orphan object(s) {'found' if dry_run else 'removed'}")


@storage_group.command("verify", help="Report documents whose object is missing or altered.")
@with_appcontext
def storage_verify() -> None:
    from core.documents.service import verify_objects

    problems = verify_objects()
    for p in problems:
        click.echo(f"document {p.document_id}: {p.problem} ({p.object_key})")
    click.echo(f"{len(problems)} problem(s)")
    if problems:
        raise SystemExit(1)


def register_commands(app: Flask) -> None:
    from core.assessment.cli import assess_command
    from core.notifications.cli import notifications_group
    from core.tasks.cli import jobs_group
    from core.workcalendar.cli import calendar_group

    for command in (db_group, create_admin, create_user, demo, export_schema, storage_group,
                    calendar_group, notifications_group, jobs_group, assess_command):
        app.cli.add_command(command)


main = FlaskGroup(create_app=_create_app, help="QI One-Stop platform commands.")


def _replace_run_command() -> None:
    # `qi run` also starts the in-process scheduler when there is no broker (core.tasks.cli).
    from core.tasks.cli import run_command

    main.add_command(run_command, "run")


_replace_run_command()
