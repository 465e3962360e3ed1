"""An earlier run's results: `--resume` keeps the finished ones, `--only` merges regraded questions into them."""

import dataclasses
import json
from pathlib import Path

from convlab.grading.records import Result


class EarlierError(ValueError):
    """The earlier results cannot be used as asked; the message says why."""


def load(json_path, only: set) -> list:
    """The results in an earlier run's JSON, for --resume and --only (refused if from another chapter)."""
    try:
        data = json.loads(Path(json_path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        if only:
            raise EarlierError(f"--only merges into an existing --json file; {json_path} does not exist") from None
        return []
    except (OSError, ValueError) as problem:
        raise EarlierError(f"cannot read {json_path}: {problem}") from None
    items = data.get("submissions", []) if isinstance(data, dict) else []
    found = []
    for item in items:
        try:
            found.append(Result.from_json(item))
        except (TypeError, KeyError, AttributeError):
            continue
    chapters = {r.chapter[:2] for r in found if r.chapter}
    wanted = {qid[:2] for qid in only}
    if only and chapters and not wanted <= chapters:
        raise EarlierError(f"--only {','.join(sorted(only))}: {json_path} holds chapter(s) "
                         f"{', '.join(sorted(chapters))}, not the chapter of those questions; give the JSON of that "
                         "chapter's batch")
    return found


def merge(previous: list, regraded: list) -> list:
    """previous with the --only questions of each regraded submission replaced (matched by path); new ones added."""
    by_path = {r.path: r for r in regraded}
    merged = []
    for old in previous:
        new = by_path.pop(old.path, None)
        if new is None or not new.questions:
            merged.append(old)
            continue
        fresh = {q.id: q for q in new.questions}
        combined = dataclasses.replace(old, questions=[fresh.get(q.id, q) for q in old.questions],
                                       graded_at=new.graded_at, sandbox=old.sandbox and new.sandbox)
        combined.notes = [*old.notes, f"regraded {', '.join(sorted(fresh))} at {new.graded_at}", *new.notes]
        if new.sha256 != old.sha256:
            combined.notes.append("the notebook changed since the first grading: the other questions' points are "
                                  "from the earlier version")
            combined.sha256 = new.sha256
        if new.status in ("timeout", "error"):
            combined.status = new.status
        combined.total()
        merged.append(combined)
    return merged + list(by_path.values())
