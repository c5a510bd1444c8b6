"""File imports: rows read and checked in batches, for big files in a second process.

:func:`checked_batches` turns a CSV/JSONL/XLSX file into batches of rows already checked by
``services._validate`` (the insert tuple, the raw payload's JSON text) plus the rejected rows with
their reasons. :func:`read_ahead` runs it in a separate process and hands the batches over, so that
on a machine with two cores one reads, decodes, maps and checks the file while the other (the caller,
in its one transaction) writes to the database; a pipe between them keeps the reader at most about one
batch ahead. The result is the same, batch for batch, as reading in the caller's process.

An error in the file as a whole (:class:`~civicpulse.domain.listening.importers.ImportFileError`) is
raised again in the caller, so the caller's transaction is rolled back and nothing is stored.
"""

from __future__ import annotations

import marshal
import multiprocessing
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any

#: rows (checked or rejected) per batch handed over
BATCH_ROWS = 2_000
#: files at least this big are read in a second process: starting it costs ~1.3 s (a fresh interpreter
#: importing civicpulse), which reading ahead wins back at about 70,000 short posts (~40 MB of JSONL)
MIN_BYTES = 48 * 1024 * 1024

#: (rows seen so far in the file, checked rows, their raw JSON texts, rejects as (ref, reason))
Batch = tuple[int, list[tuple[Any, ...]], list[str | None], list[tuple[str, str]]]


def checked_batches(path: Path | str, mapping: Mapping[str, str], fmt: str | None, tz: str,
                    *, batch_rows: int = BATCH_ROWS) -> Generator[Batch, None, None]:
    """The file's rows, checked, in batches of ``batch_rows``; times as SQLite stores them."""
    from civicpulse.domain.listening.importers import Rejection, read_rows
    from civicpulse.domain.listening.services import _item_ref, _raw_text, _sqlite_time, _validate

    rows: list[tuple[Any, ...]] = []
    raws: list[str | None] = []
    rejects: list[tuple[str, str]] = []
    seen = 0
    for item in read_rows(path, mapping, fmt, tz=tz):
        seen += 1
        if isinstance(item, Rejection):
            rejects.append((f"{item.unit} {item.row}", item.reason))
        else:
            row = _validate(item, _sqlite_time)
            if type(row) is str:
                rejects.append((_item_ref(item), row))
            else:
                rows.append(row)  # type: ignore[arg-type]
                raws.append(_raw_text(item.raw) if item.raw else None)
        if len(rows) + len(rejects) >= batch_rows:
            yield seen, rows, raws, rejects
            rows, raws, rejects = [], [], []
    yield seen, rows, raws, rejects


def _reader(path: str, mapping: dict[str, str], fmt: str | None, tz: str, out: Any) -> None:
    """The second process: sends ("batch", Batch) …, then ("done",) or ("error" | "failed", message).

    Messages are marshalled tuples of str/int/None (about 1.6× faster than pickle) sent as bytes over a
    pipe: a full pipe blocks the reader until the writer catches up."""
    from civicpulse.domain.listening.importers import ImportFileError

    try:
        try:
            for b in checked_batches(path, mapping, fmt, tz):
                out.send_bytes(marshal.dumps(("batch", b)))
            out.send_bytes(marshal.dumps(("done",)))
        except ImportFileError as exc:
            out.send_bytes(marshal.dumps(("error", str(exc))))
        except (BrokenPipeError, KeyboardInterrupt):
            pass  # the importing process stopped listening
        except BaseException as exc:  # noqa: BLE001 - reported to the caller, which stops the import
            out.send_bytes(marshal.dumps(("failed", f"{type(exc).__name__}: {exc}")))
    finally:
        out.close()


class ReaderFailed(RuntimeError):
    """The reading process stopped without finishing the file."""


def read_ahead(path: Path | str, mapping: Mapping[str, str], fmt: str | None,
               tz: str) -> Generator[Batch, None, None]:
    """:func:`checked_batches` (SQLite times) computed in a second process, ahead of the consumer.

    Raises ``ImportFileError`` for a file that cannot be read, :class:`ReaderFailed` if the process
    fails otherwise. Closing the iterator early (or an error in the consumer) stops the process."""
    from civicpulse.domain.listening.importers import ImportFileError

    ctx = multiprocessing.get_context("spawn")  # no fork: the caller holds database connections and threads
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_reader, args=(str(path), dict(mapping), fmt, tz, send), daemon=True,
                       name="civicpulse-import-reader")
    proc.start()
    send.close()  # the reader holds the only writing end: its exit ends the stream (EOFError below)
    try:
        while True:
            try:
                msg = marshal.loads(receive.recv_bytes())  # noqa: S302 - written by our own reader process
            except EOFError:
                proc.join(timeout=10)
                raise ReaderFailed(f"the process reading the file stopped (exit code {proc.exitcode})") from None
            if msg[0] == "batch":
                yield msg[1]
            elif msg[0] == "done":
                return
            elif msg[0] == "error":
                raise ImportFileError(msg[1])
            else:
                raise ReaderFailed(f"reading the file failed: {msg[1]}")
    finally:
        receive.close()
        if proc.is_alive():
            proc.terminate()
        proc.join(timeout=10)
