"""`civicpulse issues …` and `civicpulse alerts …`: one clustering pass, one evaluation pass, and the replay
of a historical stream with injected bursts. The command line acts as the system (the operator's tool);
alerts it raises are audited like the ones of the background job."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import typer
from rich.table import Table

from civicpulse.cli_common import console
from civicpulse.cli_common import fail as _fail
from civicpulse.cli_common import settings_and_db as _settings_db

issues_app = typer.Typer(help="Emerging issues: clusters of recent items.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts: evaluate the rules, replay history.", no_args_is_help=True)


def _date(value: str, flag: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(f"{flag} must be a date like 2024-01-31, not {value!r}")
        raise  # pragma: no cover


def issue_row(i: Any, item_ids: list[int]) -> dict[str, Any]:
    return {"id": i.id, "label": i.label, "size": i.size, "growth": i.growth, "count_1h": i.count_1h,
            "count_6h": i.count_6h, "count_24h": i.count_24h, "negative_share": i.negative_share,
            "unit_id": i.unit_id, "first_seen": i.first_seen.isoformat(), "item_ids": item_ids}


@issues_app.command("detect")
def detect(as_json: bool = typer.Option(False, "--json", help="JSON for scripts")) -> None:
    """Run one clustering pass and print the current emerging issues (id, label, size, growth, item ids)."""
    from sqlalchemy import select

    from civicpulse.domain.alerts import issues
    from civicpulse.domain.alerts.models import IssueItem

    _settings, db = _settings_db()
    try:
        with db.session() as s:
            found = issues.detect(s)
            rows = []
            for i in found:
                ids = list(s.scalars(select(IssueItem.item_id).where(IssueItem.issue_id == i.id)
                                     .order_by(IssueItem.at.desc()).limit(500)))
                rows.append(issue_row(i, ids))
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps({"issues": rows}, ensure_ascii=False))
        return
    if not rows:
        console.print("No emerging issues in the last 24 hours (items need their embeddings first: "
                      "`civicpulse nlp enrich --embeddings`).")
        return
    t = Table("ID", "Label", "Size", "24 h", "Growth", "Negative", "Items")
    for r in rows:
        t.add_row(str(r["id"]), r["label"], str(r["size"]), str(r["count_24h"]), f"{r['growth']:.2f}",
                  f"{round(r['negative_share'] * 100)}%", ", ".join(map(str, r["item_ids"][:8])) +
                  (" …" if len(r["item_ids"]) > 8 else ""))
    console.print(t)


@alerts_app.command("run")
def run(as_json: bool = typer.Option(False, "--json", help="JSON for scripts"),
        no_issues: bool = typer.Option(False, "--no-issues", help="Skip the issue clustering pass")) -> None:
    """Evaluate every unit's rules once; print the alerts raised or updated (id, kind, severity, unit, label,
    item ids). Units without rules get the default ones first."""
    from civicpulse.domain.alerts import services

    settings, db = _settings_db()
    try:
        with db.session() as s:
            res = services.run_pass(s, settings, detect_issues=not no_issues)
            rows: list[dict[str, Any]] = [{"id": a.id, "kind": a.kind, "severity": a.severity, "unit": a.unit.code, "unit_id": a.unit_id,
                     "label": a.label, "status": a.status, "change": what, "item_ids": list(a.item_ids or [])}
                    for a, what in res.alerts]
            summary = {"rules": res.rules_checked, "issues": len(res.issues), "deliveries": res.deliveries}
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps({"alerts": rows, **summary}, ensure_ascii=False))
        return
    if not rows:
        console.print(f"Checked {summary['rules']} rule(s): nothing new to alert.")
        return
    t = Table("ID", "Change", "Kind", "Severity", "Unit", "Label", "Items")
    for r in rows:
        t.add_row(str(r["id"]), r["change"], r["kind"], r["severity"], r["unit"], r["label"],
                  ", ".join(map(str, r["item_ids"][:8])) + (" …" if len(r["item_ids"]) > 8 else ""))
    console.print(t)
    console.print(f"Checked {summary['rules']} rule(s).")


@alerts_app.command("replay")
def replay_cmd(
    date_from: str = typer.Option(..., "--from", help="First day (YYYY-MM-DD)"),
    date_to: str = typer.Option(..., "--to", help="Day after the last (YYYY-MM-DD)"),
    as_json: bool = typer.Option(False, "--json", help="JSON for scripts"),
    bursts: int = typer.Option(20, "--bursts", min=0, max=500, help="Synthetic bursts to inject"),
    seed: int = typer.Option(7, "--seed", help="Random seed of the injected bursts"),
    alpha: float = typer.Option(1e-3, "--alpha", help="Poisson tail threshold"),
    min_count: int = typer.Option(5, "--min-count", help="Minimum items in the window"),
    min_ratio: float = typer.Option(2.0, "--min-ratio", help="Minimum observed / expected ratio"),
    history_days: int = typer.Option(14, "--history-days", help="Days of history in the baseline"),
) -> None:
    """Replay the stored stream with injected bursts; print precision, recall and detection delay."""
    from civicpulse.domain.alerts import stats
    from civicpulse.domain.alerts.replay import replay
    from civicpulse.domain.errors import DomainError

    start, end = _date(date_from, "--from"), _date(date_to, "--to")
    try:
        stats.check_params({"alpha": alpha, "min_count": min_count, "min_ratio": min_ratio,
                            "history_days": history_days}, ("alpha", "min_count", "min_ratio", "history_days"))
    except DomainError as exc:
        _fail(exc.message)
    params = stats.SpikeParams(alpha=alpha, min_count=min_count, min_ratio=min_ratio, history_days=history_days)
    _settings, db = _settings_db()
    try:
        with db.session() as s:
            out = replay(s, start, end, bursts=bursts, seed=seed, params=params)
    except DomainError as exc:
        _fail(exc.message)
        raise  # pragma: no cover
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    console.print(f"{out['items']} items over {out['hours']} hours ({out['mean_per_hour']}/h); "
                  f"{out['injected']} bursts injected.")
    console.print(f"Detections: {out['detections']} ({out['true_detections']} on injected bursts, "
                  f"{out['background_detections']} in the corpus alone)")
    console.print(f"Precision {out['precision']:.3f} · recall {out['recall']:.3f} · delay mean "
                  f"{out['delay_hours_mean']} h, max {out['delay_hours_max']} h")
    console.print(f"Recall by burst size: {out['recall_by_size']}")
