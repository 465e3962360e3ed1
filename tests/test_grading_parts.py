"""The grading engine's parts on their own: the runner's protocol, resuming a batch, bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from convlab.grading.batch import grade
from convlab.grading.kernel import Kernel, KernelDied, Late, RemoteChannel
from convlab.grading.records import Limits

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "01_conv2d.ipynb"
CONVLAB = str(Path(sys.executable).parent / "convlab")


@pytest.fixture
def kernel(tmp_path):
    handle = Kernel(Limits(), use_sandbox=False, workdir=tmp_path)
    yield handle
    handle.kill()


def test_the_runner_runs_cells_and_reports_their_errors(kernel):
    assert kernel.run_cell("x = 6 * 7", timeout=30) == {"done": True, "error": None, "printed": 0}
    reply = kernel.run_cell("1 / 0", timeout=30)
    assert reply["error"] == {"type": "ZeroDivisionError", "message": "division by zero"}
    kernel.run_cell("print('a' * 1000)", timeout=30)
    assert kernel.printed >= 1000  # counted, not kept


def test_the_runner_answers_requests_with_plain_data(kernel):
    kernel.run_cell("import torch\nx = 42\ndef f(a):\n    return torch.ones(a)", timeout=30)
    channel = RemoteChannel(kernel, time.monotonic() + 30)
    assert channel.ask({"op": "value", "target": "x"}) == {"ok": 42, "printed": 0}
    reply = channel.ask({"op": "call", "target": "f", "args": [2], "kwargs": {}})
    assert reply["ok"]["$tensor"]["shape"] == [2] and reply["ok"]["$tensor"]["dtype"] == "float32"
    assert channel.ask({"op": "value", "target": "missing"})["undefined"] is True


def test_a_late_or_dead_runner_is_reported_and_gone(kernel):
    with pytest.raises(Late):
        kernel.run_cell("while True:\n    pass", timeout=1)
    assert kernel.process.poll() is not None


def test_a_runner_that_exits_is_dead(tmp_path):
    handle = Kernel(Limits(), use_sandbox=False, workdir=tmp_path)
    with pytest.raises(KernelDied):
        handle.run_cell("import os\nos._exit(0)", timeout=30)


def _batch(folder: Path, names) -> None:
    for name in names:
        (folder / name).mkdir(parents=True)
        (folder / name / "01_conv2d.ipynb").write_text(SOLUTION.read_text())


def test_a_batch_stopped_half_way_keeps_what_it_finished_and_resume_completes_it(tmp_path):
    folder, out = tmp_path / "subs", tmp_path / "grades.json"
    _batch(folder, ["a", "b", "c"])
    batch = subprocess.Popen([CONVLAB, "grade", str(folder), "--json", str(out), "-q"], start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out.exists() and json.loads(out.read_text())["submissions"]):
        time.sleep(0.1)
    os.killpg(batch.pid, signal.SIGKILL)
    batch.wait()
    partial = json.loads(out.read_text())
    assert partial["complete"] is False and 1 <= len(partial["submissions"]) < 3
    finished = {r["path"]: r["seconds"] for r in partial["submissions"]}
    assert grade([folder], json_path=out, resume=True, quiet=True) == 0
    final = json.loads(out.read_text())
    assert final["complete"] is True and len(final["submissions"]) == 3
    assert all(r["score"] == 15 for r in final["submissions"])
    for record in final["submissions"]:  # kept, not graded again
        if record["path"] in finished:
            assert record["seconds"] == finished[record["path"]]


def test_bad_input_is_explained_and_the_rest_is_graded(tmp_path, capsys):
    folder = tmp_path / "subs"
    _batch(folder, ["good"])
    (folder / "folder.ipynb").mkdir()  # a folder named like a notebook: unreadable as a file
    (folder / "notes.ipynb").write_text('{"cells": [], "metadata": {}}')  # no chapter to tell
    assert grade([folder], json_path=tmp_path / "g.json", quiet=True) == 0
    records = {Path(r["path"]).stem: r for r in json.loads((tmp_path / "g.json").read_text())["submissions"]}
    assert records["01_conv2d"]["score"] == 15
    assert records["folder"]["status"] == "invalid" and "cannot read" in records["folder"]["notes"][0]
    assert records["notes"]["status"] == "invalid" and "--chapter" in records["notes"]["notes"][0]
    assert grade([tmp_path / "nothing-here"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert grade([folder], resume=True) == 2
    assert "--resume needs --json" in capsys.readouterr().err
