"""`qi assess --period YYYY | --on DATE`: compute the drafts of every live institution whose
cycle ended in that year (or the latest cycle ended before DATE), with a progress bar and a
summary table (R-ASM-01, R-ASM-02). The daily task runs the same code (`only_missing`)."""

from __future__ import annotations

from datetime import datetime

import click
from flask.cli import with_appcontext


@click.command("assess", help="Compute the assessment drafts of every institution due.")
@click.option("--period", type=click.IntRange(2000, 2200), help="Cycles that ended in this year.")
@click.option("--on", "on", type=click.DateTime(["%Y-%m-%d"]),
              help="The latest cycle ended before this date (default: today).")
@click.option("--only-missing", is_flag=True, help="Leave existing drafts alone.")
@click.option("--batch-size", type=click.IntRange(1, 5000), default=500, show_default=True)
@with_appcontext
def assess_command(period: int | None, on: datetime | None, only_missing: bool,
                   batch_size: int) -> None:
    from core.assessment import service
    from core.clock import local_today

    if period is not None and on is not None:
        raise click.UsageError("give --period or --on, not both")
    first, last = (service.period_bounds(period) if period is not None
                   else service.on_bounds(on.date() if on else local_today()))
    total = service.count_live()
    with click.progressbar(length=total, label=f"assessing cycles ended {first} … {last}",
                           show_pos=True) as bar:
        summary = service.assess_due(first, last, only_missing=only_missing,
                                     batch_size=batch_size, progress=bar.update)
    scores = sorted(summary.scores.values())
    rows = [("computed (new drafts)", summary.computed),
            ("recomputed drafts", summary.recomputed),
            ("final, left unchanged", summary.final_unchanged),
            ("existing drafts skipped", summary.skipped_existing),
            ("passed (≥ 60)", summary.passed), ("failed (< 60)", summary.failed),
            ("lowest / median / highest score",
             f"{scores[0]} / {scores[len(scores) // 2]} / {scores[-1]}" if scores else "-")]
    width = max(len(label) for label, _ in rows)
    click.echo(f"{'':-<{width + 12}}")
    for label, value in rows:
        click.echo(f"{label:<{width}}  {value:>8}")
    click.echo(f"{'':-<{width + 12}}")
