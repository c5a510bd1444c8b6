"""Every route takes the request's transaction through deps.DB, which commits before the response is sent.

A plain ``Depends(db_session)`` would commit after the response: the page a form redirects to could then
show the state from before the form (seen in the browser tests before this rule existed).
"""

from __future__ import annotations

import re
from pathlib import Path

import civicpulse.web

WEB = Path(civicpulse.web.__file__).parent


def test_no_route_declares_the_database_dependency_itself() -> None:
    offenders = [
        f"{p.relative_to(WEB)}:{n}"
        for p in sorted(WEB.rglob("*.py")) if p.name != "deps.py"
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"Depends\(\s*db_session\b", line)
    ]
    assert not offenders, f"use `s: Session = DB` from civicpulse.web.deps instead: {offenders}"


def test_the_shared_dependency_commits_before_responding() -> None:
    from civicpulse.web.deps import DB, db_session

    assert DB.dependency is db_session and DB.scope == "function"
