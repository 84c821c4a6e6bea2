"""`qi jobs list | run NAME`, and `qi run` with the in-process scheduler."""

from __future__ import annotations

from typing import Any

import click
from flask import current_app
from flask.cli import ScriptInfo, get_debug_flag, with_appcontext
from flask.cli import run_command as flask_run_command


@click.group("jobs", help="Periodic background jobs: list them, run one now.")
def jobs_group() -> None:
    pass


@jobs_group.command("list", help="The periodic jobs and their schedules.")
@with_appcontext
def list_jobs() -> None:
    from core.tasks import PERIODIC_JOBS, broker_configured

    for job in PERIODIC_JOBS:
        click.echo(f"{job.name:32} {job.schedule.describe(current_app.config):36} {job.description}")
    click.echo("runs on: " + ("Celery beat + workers (CELERY_BROKER_URL)" if broker_configured()
                              else "the in-process scheduler (`qi run`, QI_INLINE_SCHEDULER=1)"))


@jobs_group.command("run", help="Run one periodic job now, in this process (a cron line can do "
                                "this where there is neither a broker nor a long-running server).")
@click.argument("name")
@with_appcontext
def run_job_now(name: str) -> None:
    from core.tasks import get_job, run_job

    try:
        job = get_job(name)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="NAME") from None
    result = run_job(job)
    click.echo(f"{job.name}: {result or 'nothing to do'}")


def _run(ctx: click.Context, /, **kwargs: Any) -> Any:
    """Flask's `run`, plus the in-process scheduler when no broker is configured. With the
    reloader on, only the serving child process starts it."""
    from werkzeug.serving import is_running_from_reloader

    reload = kwargs.get("reload")
    if reload is None:
        reload = get_debug_flag()
    if not reload or is_running_from_reloader():
        app = ctx.ensure_object(ScriptInfo).load_app()  # cached: the very app `run` serves
        if app.config.get("CELERY_BROKER_URL"):
            click.echo(" * background jobs: Celery beat and workers (CELERY_BROKER_URL is set)")
        else:
            from core.tasks.scheduler import start_inline_scheduler

            start_inline_scheduler(app)
            click.echo(" * background jobs: in-process scheduler (no CELERY_BROKER_URL)")
    return ctx.invoke(flask_run_command, **kwargs)


run_command = click.Command(
    "run", callback=click.pass_context(_run), params=list(flask_run_command.params),
    help=(flask_run_command.help or "") + "\n\nWithout a broker, the periodic background jobs "
    "run in this process too (core.tasks.scheduler).",
    short_help="Run a development server (and, without a broker, the periodic jobs).")
