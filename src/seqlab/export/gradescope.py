"""`seqlab export gradescope ASSIGNMENT --out autograder.zip`, and the package's entry point.

Gradescope's contract: the zip holds `setup.sh` (run once to build the image) and
`run_autograder` (run per submission, as root, working directory /autograder); the student's
files are in /autograder/submission/ and the result goes to /autograder/results/results.json with
a top-level `score` and `output` and `tests[]` (`name`, `score`, `max_score`, `status` passed or
failed, `output`, `visibility`). Standard output is the instructor's log; only results.json is
shown to students, so only `single.student_text`-filtered lines go there. SEQLAB_GRADESCOPE_ROOT
replaces /autograder (tests run the package against a fake root).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from seqlab.grading.assignments import Assignment, load_assignment
from seqlab.report.render import strings

from .bundle import copy_engine, requirements
from .single import (
    Graded,
    Redactor,
    grade_single,
    item_feedback,
    student_text,
    title_of,
    write_results,
)

__all__ = ["VISIBILITIES", "build_package", "main", "to_results"]

VISIBILITIES = ("visible", "after_due_date", "after_published", "hidden")
ROOT_ENV = "SEQLAB_GRADESCOPE_ROOT"

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the autograder image (choose its Ubuntu 24.04
# base image: seqlab needs Python >= 3.11). It installs CPU-only torch, seqlab's dependencies and
# checks that the hidden graders load; the engine itself runs from source/seqlab/src.
set -euo pipefail
SOURCE="${SEQLAB_GRADESCOPE_ROOT:-/autograder}/source"
TORCH_INDEX="__TORCH_INDEX__"  # PyTorch's CPU wheel index, set with `seqlab export --torch-index`
apt-get update -q && apt-get install -y -q python3 python3-venv python3-pip
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "seqlab needs Python >= 3.11: pick the Ubuntu 24.04 base image"; exit 1; }
python3 -m venv "$SOURCE/../venv"
PIP="$SOURCE/../venv/bin/pip"
"$PIP" install -q --upgrade pip
"$PIP" install -q ${TORCH_INDEX:+--index-url "$TORCH_INDEX"} "__TORCH_PIN__"
"$PIP" install -q -r "$SOURCE/requirements.txt"
SEQLAB_COURSE_ROOT="$SOURCE/seqlab/course" PYTHONPATH="$SOURCE/seqlab/src" "$SOURCE/../venv/bin/python" -c \\
  "from seqlab.grading.assignments import load_assignment; a = load_assignment('__ASSIGNMENT__'); \\
print(f'graders ready: {a.id}, {len(a.rubric)} items, {a.max_score:g} points')"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this per submission (copied to /autograder/run_autograder). It grades
# /autograder/submission/ and writes /autograder/results/results.json; SEQLAB_GRADESCOPE_ROOT
# replaces /autograder, SEQLAB_PYTHON the interpreter (both for local tests of the package).
set -u
ROOT="${SEQLAB_GRADESCOPE_ROOT:-/autograder}"
SRC="$ROOT/source/seqlab"
PY="${SEQLAB_PYTHON:-$ROOT/venv/bin/python}"
[ -x "$PY" ] || PY=python3
export SEQLAB_COURSE_ROOT="$SRC/course"
export PYTHONPATH="$SRC/src"
# Without namespaces (root in Docker) the submission's uid sees this filesystem: graders and oracles
# are root's alone.
chmod -R go-rwx "$SRC/course" "$SRC/src/seqlab/oracles" 2>/dev/null || true
exec "$PY" -m seqlab.export.gradescope --root "$ROOT"
"""


def build_package(assignment: Assignment, out: Path, lang: str = "en", visibility: str = "visible",
                  torch_index: str = "") -> Path:
    """Write the autograder zip for `assignment`; returns its path."""
    config = {"assignment": assignment.id, "lang": lang, "visibility": visibility}
    scripts = {
        "setup.sh": SETUP_SH.replace("__TORCH_INDEX__", torch_index).replace("__TORCH_PIN__", requirements()[0])
                            .replace("__ASSIGNMENT__", assignment.id),
        "run_autograder": RUN_AUTOGRADER,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        copy_engine(assignment, staging / "seqlab")
        partial = out.with_name(f".{out.name}.tmp")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, text in scripts.items():
                info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
                info.external_attr = 0o100755 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, text)
            archive.writestr("requirements.txt", "\n".join(requirements()) + "\n")
            archive.writestr("autograder.json", json.dumps(config, indent=2) + "\n")
            for path in sorted(p for p in staging.rglob("*") if p.is_file()):
                archive.write(path, path.relative_to(staging).as_posix())
        partial.replace(out)
    return out


def to_results(graded: Graded, assignment: Assignment, lang: str, visibility: str, redact: Redactor,
               seconds: float) -> dict[str, Any]:
    """Gradescope's results.json for one graded (or ungradable) submission."""
    labels = strings(lang)
    result = graded.result
    reason = graded.problem if result is None else (result.error if result.status != "graded" else None)
    tests = []
    if result is not None and result.status == "graded":
        for test in result.tests:
            tests.append({"name": title_of(test.id, assignment, lang), "number": str(len(tests) + 1),
                          "score": float(test.points), "max_score": float(test.max_points),
                          "status": "passed" if test.passed else "failed",
                          "output": item_feedback(test, assignment, lang, redact), "visibility": visibility})
    else:
        why = f"{labels['not_graded_student']}: {student_text(reason, redact)}"
        for item in assignment.rubric:
            tests.append({"name": title_of(item.id, assignment, lang), "number": str(len(tests) + 1),
                          "score": 0.0, "max_score": float(item.points), "status": "failed",
                          "output": why, "visibility": visibility})
    score = float(result.score) if result is not None and result.status == "graded" else 0.0
    lines = [f"{labels['score_line']}: {score:g} / {assignment.max_score:g}"]
    if reason:
        lines.append(f"{labels['not_graded_student']}: {student_text(reason, redact)}")
    failed = [t for t in tests if t["status"] == "failed"] if reason is None else []
    if failed:
        lines += ["", f"{labels['review']}:"] + [f"- {t['name']}" for t in failed]
    notes = [student_text(n, redact) for n in (result.notes if result is not None else [])]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    return {"score": score, "execution_time": round(seconds), "output": "\n".join(lines),
            "visibility": visibility, "stdout_visibility": "hidden", "tests": tests}


def run(root: Path) -> int:
    """Grade root/submission/ per root/source/autograder.json; write root/results/results.json."""
    start = time.monotonic()
    results_path = root / "results" / "results.json"
    config = json.loads((root / "source" / "autograder.json").read_text(encoding="utf-8"))
    lang, visibility = config.get("lang", "en"), config.get("visibility", "visible")
    try:
        assignment = load_assignment(config["assignment"])
        redact = Redactor(assignment, [root, assignment.root, Path(tempfile.gettempdir())])
        graded = grade_single(assignment, root / "submission", "gradescope")
        write_results(results_path, to_results(graded, assignment, lang, visibility, redact, time.monotonic() - start))
    except Exception as exc:  # noqa: BLE001 - the student must still get a result, the log the cause
        print(f"seqlab: autograder failure: {type(exc).__name__}: {exc}", flush=True)
        write_results(results_path, {"score": 0.0, "output": strings(lang)["autograder_failed"], "tests": [],
                              "visibility": visibility, "stdout_visibility": "hidden"})
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_autograder", description="grade one Gradescope submission")
    parser.add_argument("--root", type=Path, default=Path(os.environ.get(ROOT_ENV, "/autograder")))
    args = parser.parse_args(argv)
    return run(args.root.resolve())


if __name__ == "__main__":
    sys.exit(main())
