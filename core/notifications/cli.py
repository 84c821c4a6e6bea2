"""`qi notifications deliver | list | retry`: the outbox for operators."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from core.notifications.models import OutboxStatus


@click.group("notifications", help="Notification outbox: deliver due messages, list, retry dead ones.")
def notifications_group() -> None:
    pass


@notifications_group.command("deliver", help="Send the due messages once and print the counts.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@with_appcontext
def deliver(limit: int) -> None:
    from core.notifications.service import deliver_due

    click.echo(str(deliver_due(limit=limit)))


@notifications_group.command("list", help="List outbox messages, newest first.")
@click.option("--status", type=click.Choice([s.value for s in OutboxStatus]), default="pending",
              show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@with_appcontext
def list_messages(status: str, limit: int) -> None:
    from core.notifications.service import describe, outbox_counts, outbox_messages

    for message in outbox_messages(OutboxStatus(status), limit):
        click.echo(describe(message))
    counts = outbox_counts()
    click.echo(", ".join(f"{n} {s.value}" for s, n in counts.items()))


@notifications_group.command("retry", help="Give dead messages a fresh set of attempts.")
@click.argument("ids", nargs=-1, type=int, required=True)
@with_appcontext
def retry(ids: tuple[int, ...]) -> None:
    from core.notifications.service import retry_dead

    revived = retry_dead(ids)
    click.echo(f"{len(revived)} message(s) pending again: {', '.join(map(str, revived)) or '-'}")
    if len(revived) != len(set(ids)):
        click.echo("some ids were not dead messages and were left alone", err=True)
