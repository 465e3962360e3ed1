"""A hostile class: submissions that try to forge a grade, escape the sandbox or break the batch.

One batch grades them all next to honest submissions. Each attack must gain nothing: 0 points
where its answers are wrong, nothing modified outside its sandbox (repository, virtualenv,
~/.ipython, other submissions, gradebook), no process left behind, nothing received by a
listener on the host's loopback, the hidden checks never in any output, and the honest
submissions graded correctly within a bounded time.
"""

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from convlab.grading.batch import grade
from convlab.grading.sandbox import Unavailable, check_available

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "01_conv2d.ipynb"
MARK = "convlab-redteam-7f3a"  # in every process an attack leaves, so the test can look for survivors
SECRET = "HIDDEN-CHECK-SOURCE-91c2"
HIDDEN = f'''
from convlab.exercises.core import Wrong, call, question

# {SECRET}
@question("01.x1", points=1, title="Hidden: a large layer", names=("count_params",))
def x1(count_params):
    if call(count_params, 1000, 7, 3) != 1000 * 7 * 9 + 7:
        raise Wrong("wrong for a large layer.")
'''
WRONG = {  # wrong answers, so that a forged grade shows as points
    "01.q1": "out_shape = (2, 8, 30, 30)\nweight_shape = (8, 3, 3, 3)\nbias_shape = (3,)",
    "01.q2": "def count_params(i, o, k, bias=True):\n    return 1",
    "01.q3": "def input_range(o, k, s=1, p=0):\n    return (1, 1)",
    "01.q4": "value = 7",
    "01.q5": "def conv2d_single(x, w):\n    return torch.zeros(x.shape[0] - w.shape[0] + 1, "
             "x.shape[1] - w.shape[1] + 1)",
    "01.q6": "fixed_model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))",
}
ALL = {"01.q1", "01.q2", "01.q3", "01.q4", "01.q5", "01.q6", "01.x1"}


def notebook(replace=None, append=(), prepend=()):
    """The solution notebook with solution cells replaced (by question), and cells added before/after."""
    nb = nbformat.read(SOLUTION, as_version=4)
    replace, section = dict(replace or {}), None
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "## Question" in cell.source:
            section = cell.source.split()[2]
        elif cell.cell_type == "code" and "BEGIN SOLUTION" in cell.source and section in replace:
            cell.source = replace.pop(section)
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "convlab.seed" in c.source)
    for offset, source in enumerate(prepend):
        nb.cells.insert(first + 1 + offset, nbformat.v4.new_code_cell(source))
    nb.cells.extend(nbformat.v4.new_code_cell(source) for source in append)
    return nbformat.writes(nb)


def wrong(*extra, before=()):
    return notebook(WRONG, append=extra, prepend=before)


def attacks(paths) -> dict:
    """student -> (notebook text or bytes, questions it must lose)."""
    listener, gradebook, victim = paths["port"], paths["gradebook"], paths["victim"]
    return {
        "int_subclass": (notebook({"01.q4": "class Yes(int):\n    def __eq__(self, other):\n        return True\n"
                                            "    __hash__ = int.__hash__\nvalue = Yes(7)"}), {"01.q4"}),
        "patch_exec_and_json": (wrong("import builtins, json\nbuiltins.exec = lambda *a, **k: None\n"
                                      "json.dumps = lambda *a, **k: '{\"ok\": 3}'\njson.loads = lambda *a, **k: {}"),
                                ALL),
        "patch_torch": (wrong("import torch, torch.nn.functional as F\ntorch.allclose = lambda *a, **k: True\n"
                              "torch.equal = lambda *a, **k: True\nF.conv2d = lambda x, w, *a, **k: torch.zeros(1)\n"
                              "nn.Module.__call__ = lambda self, *a, **k: torch.zeros(2, 10)"), ALL),
        "input_transformer": (wrong("ip = get_ipython()\nip.input_transformers_post.append("
                                    "lambda lines: ['pass\\n'])"), ALL),
        "append_to_checks": (wrong("import convlab.exercises.c01_conv2d as c, convlab.grading.runner as r\n"
                                   "for path in (c.__file__, r.__file__):\n    try:\n"
                                   "        open(path, 'a').write('\\nraise SystemExit\\n')\n"
                                   "    except OSError as e:\n        print(e)"), ALL),
        "pth_and_startup": (wrong("import os, site, sys\nfor d in site.getsitepackages() + [sys.prefix]:\n    try:\n"
                                  "        open(os.path.join(d, 'zz_evil.pth'), 'w').write('import os')\n"
                                  "    except OSError:\n        pass\n"
                                  "s = os.path.expanduser('~/.ipython/profile_default/startup')\n"
                                  "os.makedirs(s, exist_ok=True)\nopen(s + '/00-evil.py', 'w').write('x = 1')\n"
                                  f"for p in ('/root/.ipython', {str(Path.home() / '.ipython')!r}):\n    try:\n"
                                  "        os.makedirs(p + '/profile_default/startup', exist_ok=True)\n"
                                  "        open(p + '/profile_default/startup/00-evil.py', 'w').write('x=1')\n"
                                  "    except OSError:\n        pass"), ALL),
        "reads_and_forges_others": (wrong("import glob, os\nfound = []\n"
                                          "for pattern in ('/tmp/**', '/home/**', '/root/**', '../**', '/work/**'):\n"
                                          "    found += glob.glob(pattern, recursive=True)[:2000]\n"
                                          "for name in found:\n    try:\n        if name.endswith(('.json', '.csv',"
                                          " '.ipynb')):\n            open(name, 'w').write('{}')\n    except OSError:\n"
                                          "        pass\n"
                                          f"for name in ({str(victim)!r}, {str(gradebook)!r}):\n    try:\n"
                                          "        open(name, 'w').write('forged')\n    except OSError:\n        pass"),
                                    ALL),
        "daemon": (wrong("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                         f"        os.execvp('sh', ['sh', '-c', 'while true; do echo forged > {gradebook} "
                         f"2>/dev/null; echo forged > {victim} 2>/dev/null; sleep 0.2; done # {MARK}'])\n"
                         "    os._exit(0)\ntime.sleep(0.5)"), ALL),
        "signals_everything": (wrong("import os, signal\nfor pid in range(1, 400):\n    for sig in (signal.SIGSTOP,"
                                     " signal.SIGKILL):\n        try:\n            os.kill(pid, sig)\n"
                                     "        except OSError:\n            pass"), ALL),
        "stops_its_group": (wrong("import os, signal\nos.killpg(0, signal.SIGSTOP)"), ALL),
        "leaks_hidden_checks": (wrong("import glob\nleak = []\nfor name in sum((glob.glob(p, recursive=True) for p in ("
                                      "'/tmp/**/*.py', '/home/**/*.py', '/root/*/*.py', '/work/*/*.py')), []):\n"
                                      "    try:\n        text = open(name).read()\n    except OSError:\n"
                                      "        continue\n    if 'x1' in text and 'Hidden' in text:\n"
                                      "        leak.append(text)\n"
                                      "raise RuntimeError(' '.join(leak)[:200] or 'nothing found')"), ALL),
        "loopback_network": (wrong("import socket\nfor host in ('127.0.0.1', 'localhost', '::1'):\n    try:\n"
                                   f"        socket.create_connection((host, {listener}), timeout=1).sendall(b'leak')\n"
                                   "    except OSError:\n        pass"), ALL),
        "processes_and_memory": (wrong("import subprocess\nkids = []\nfor _ in range(50):\n    try:\n"
                                       f"        kids.append(subprocess.Popen(['sh', '-c', 'sleep 1000 # {MARK}']))\n"
                                       "    except OSError:\n        break\n"
                                       "open('/tmp/big', 'wb').write(b'x' * 200 * 1024 * 1024)"), ALL),
        "raises_its_limits": (wrong("import resource\nfor r in (resource.RLIMIT_AS, resource.RLIMIT_NPROC):\n"
                                    "    resource.setrlimit(r, (resource.RLIM_INFINITY,) * 2)"), ALL),
        "forges_protocol": (wrong("import os\nfor fd in range(3, 64):\n    try:\n"
                                  "        os.write(fd, b'{\"ok\": 3}\\n{\"done\": true}\\n\\xff\\xfe garbage\\n')\n"
                                  "    except OSError:\n        pass"), ALL),
        "not_utf8": (b"\xff\xfe\x00{\"cells\": []}" + bytes(range(256)), ALL),
        "huge_200mb": (None, ALL),  # written in the fixture
        "ten_thousand_cells": (json.dumps({"cells": [{"cell_type": "code", "source": f"x{i} = {i}", "metadata": {},
                                                     "outputs": []} for i in range(10_000)],
                                          "metadata": {"convlab": {"chapter": "01_conv2d"}}, "nbformat": 4,
                                          "nbformat_minor": 5}), ALL),
        "json_of_the_wrong_shape": (json.dumps({"cells": {"0": "print(1)"}, "metadata": []}), ALL),
        "json_list": ("[1, 2, 3]", ALL),
        "reads_solutions": (notebook({"01.q4": "import glob\nfiles = glob.glob('/**/solutions/01_conv2d.ipynb', "
                                               "recursive=True)\nvalue = int(bool(files)) * 3"}), {"01.q4"}),
    }


HONEST = {"honest_full": (SOLUTION.read_text(), set()),
          "honest_partial": (notebook({"01.q4": "value = 2"}), {"01.q4"})}


@pytest.fixture(scope="module")
def redteam(tmp_path_factory):
    try:
        check_available()
    except Unavailable as problem:
        pytest.fail(f"no sandbox on this machine (make test installs bubblewrap): {problem}")
    root = tmp_path_factory.mktemp("redteam")
    submissions, hidden = root / "submissions", root / "hidden"
    hidden.mkdir()
    (hidden / "hidden_x1.py").write_text(HIDDEN)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    received = []
    stop = threading.Event()

    def listen():
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            received.append(connection.recv(100))
            connection.close()

    threading.Thread(target=listen, daemon=True).start()
    paths = {"port": server.getsockname()[1], "gradebook": root / "grades.json",
             "victim": submissions / "honest_full" / "01_conv2d.ipynb"}
    cases = {**attacks(paths), **HONEST}
    for student, (text, _) in cases.items():
        path = submissions / student / "01_conv2d.ipynb"
        path.parent.mkdir(parents=True)
        if text is None:
            with open(path, "wb") as handle:
                handle.write(b'{"cells": [], "padding": "' + b"x" * (200 << 20) + b'"}')
        else:
            path.write_bytes(text if isinstance(text, bytes) else text.encode())
    watched = {p: _digest(p) for p in [*submissions.rglob("*"), *_watched_files()] if p.is_file()}
    ipython_before = _listing(Path.home() / ".ipython")
    started = time.monotonic()
    out = root / "stdout.txt"
    with open(out, "w") as handle:
        status = grade([submissions], json_path=paths["gradebook"], csv_path=root / "grades.csv", jobs=2,
                       timeout=60, cell_timeout=10, check_timeout=5, memory_mb=1024, extra_checks=hidden,
                       out=handle)
    seconds = time.monotonic() - started
    time.sleep(2)  # a daemon that survived would rewrite the gradebook now
    stop.set()
    return {"status": status, "seconds": seconds, "cases": cases, "root": root, "watched": watched,
            "received": received, "ipython_before": ipython_before, "stdout": out.read_text(),
            "results": {r["student"]: r for r in json.loads(paths["gradebook"].read_text())["submissions"]}}


def _watched_files() -> list:
    """The repository's package and the virtualenv's site-packages listing stand for 'outside the sandbox'."""
    return [*(ROOT / "convlab").rglob("*.py"), *Path(sys.prefix).glob("lib/python*/site-packages/*.pth")]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _listing(folder: Path) -> list:
    return sorted(str(p) for p in folder.rglob("*")) if folder.exists() else []


def test_the_batch_finishes_in_bounded_time_and_exits_0(redteam):
    assert redteam["status"] == 0
    assert redteam["seconds"] < 600
    assert set(redteam["results"]) == set(redteam["cases"])


@pytest.mark.parametrize("student", [*attacks({"port": 0, "gradebook": "", "victim": ""}), *HONEST])
def test_each_submission_gets_exactly_the_points_its_answers_earn(redteam, student):
    record = redteam["results"][student]
    _, lost = redteam["cases"][student]
    failed = {q["id"] for q in record["questions"] if not q["passed"]}
    if record["status"] == "invalid":
        assert lost == ALL and record["score"] == 0, record
        return
    assert failed == lost, record
    assert record["score"] == 16 - sum(q["max_points"] for q in record["questions"] if q["id"] in lost)
    assert record["sandbox"] is True


def test_files_that_are_not_notebooks_are_invalid(redteam):
    for student in ("not_utf8", "huge_200mb", "json_of_the_wrong_shape", "json_list"):
        assert redteam["results"][student]["status"] == "invalid", redteam["results"][student]


def test_nothing_outside_the_sandboxes_changed(redteam):
    for path, digest in redteam["watched"].items():
        assert path.exists() and _digest(path) == digest, path
    assert not list(Path(sys.prefix).glob("lib/python*/site-packages/zz_evil.pth"))
    assert _listing(Path.home() / ".ipython") == redteam["ipython_before"]
    gradebook = json.loads((redteam["root"] / "grades.json").read_text())
    assert gradebook["complete"] is True and gradebook["sandbox"] is True


def test_no_process_survives_the_batch(redteam):
    survivors = subprocess.run(["pgrep", "-f", MARK], capture_output=True, text=True).stdout.split()
    assert [pid for pid in survivors if int(pid) != os.getpid()] == []


def test_no_network_reaches_the_host(redteam):
    assert redteam["received"] == []


def test_the_hidden_checks_never_show(redteam):
    root = redteam["root"]
    text = redteam["stdout"] + (root / "grades.json").read_text() + (root / "grades.csv").read_text()
    assert SECRET not in text and "1000 * 7 * 9" not in text
    assert "nothing found" in json.dumps(redteam["results"]["leaks_hidden_checks"])


def test_a_missing_sandbox_is_refused_unless_asked(tmp_path, monkeypatch, capsys):
    (tmp_path / "a.ipynb").write_text(SOLUTION.read_text())
    monkeypatch.setattr("convlab.grading.sandbox.BWRAP", "bwrap-that-is-not-installed")
    assert grade([tmp_path], json_path=tmp_path / "out.json") == 2
    err = capsys.readouterr().err
    assert "bubblewrap (bwrap) is not installed" in err and "--no-sandbox" in err and "apt-get install" in err
    assert not (tmp_path / "out.json").exists()
    assert grade([tmp_path], json_path=tmp_path / "out.json", use_sandbox=False, quiet=True) == 0
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["sandbox"] is False and result["submissions"][0]["sandbox"] is False
    assert result["submissions"][0]["score"] == 15
    assert "not trusted" in capsys.readouterr().err
