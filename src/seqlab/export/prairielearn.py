"""`seqlab export prairielearn ASSIGNMENT`, and the external grader's entry point.

PrairieLearn's contract: a question with `externalGradingOptions` runs `entrypoint` in the
grading image; course files listed in `serverFilesCourse` are in /grade/serverFilesCourse/, the
student's files in /grade/student/, and the entry point writes /grade/results/results.json
(making the folder itself) with `gradable`, `score` in [0, 1], `message`, `format_errors` when
not gradable, and `tests[]` (`name`, `description`, `points`, `max_points`, `message`). A
submission that cannot be loaded is `gradable: false` (the student keeps the attempt); a
timeout is gradable and scores 0. SEQLAB_PRAIRIELEARN_ROOT replaces /grade.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from seqlab.grading.assignments import Assignment, load_assignment
from seqlab.report.render import strings

from .bundle import TORCH_PIN, copy_engine, requirements
from .single import (
    Graded,
    Redactor,
    grade_single,
    item_feedback,
    student_text,
    title_of,
    write_results,
)

__all__ = ["build_package", "main", "to_results"]

ROOT_ENV = "SEQLAB_PRAIRIELEARN_ROOT"
FOLDER = "seqlab"  # serverFilesCourse/seqlab
TIMEOUT = 300  # seconds; PrairieLearn allows at most 600

RUN_SH = """#!/usr/bin/env bash
# PrairieLearn's entrypoint for seqlab-graded questions: grades /grade/student/ and writes
# /grade/results/results.json. SEQLAB_PRAIRIELEARN_ROOT replaces /grade, SEQLAB_PYTHON the
# interpreter (both for local tests of the package).
set -u
ROOT="${SEQLAB_PRAIRIELEARN_ROOT:-/grade}"
HERE="$ROOT/serverFilesCourse/seqlab"
export SEQLAB_COURSE_ROOT="$HERE/course"
export PYTHONPATH="$HERE/src"
# Without namespaces (root in Docker) the submission's uid sees this filesystem: graders and oracles
# are root's alone.
chmod -R go-rwx "$HERE/course" "$HERE/src/seqlab/oracles" 2>/dev/null || true
exec "${SEQLAB_PYTHON:-python3}" -m seqlab.export.prairielearn --root "$ROOT"
"""

DOCKERFILE = """# The grading image for seqlab questions (PrairieLearn runs it without network access):
# Python 3.11, CPU-only torch and seqlab's dependencies. Build and push it, then put its name in
# each question's info.json ("image"). The engine and graders come from serverFilesCourse.
FROM python:3.11-slim
ARG TORCH_INDEX="__TORCH_INDEX__"
COPY serverFilesCourse/seqlab/requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir ${TORCH_INDEX:+--index-url "$TORCH_INDEX"} "__TORCH_PIN__" \\
 && pip install --no-cache-dir -r /tmp/requirements.txt
"""

QUESTION_HTML = """<pl-question-panel>
  <p>Upload your completed <code>{id}.ipynb</code> notebook. It is graded by seqlab's hidden tests;
  each lost point names the misconception behind it and the quiz that drills it.</p>
  <pl-file-upload file-names="{id}.ipynb"></pl-file-upload>
</pl-question-panel>
<pl-submission-panel>
  <pl-external-grader-results></pl-external-grader-results>
  <pl-file-preview></pl-file-preview>
</pl-submission-panel>
"""


def _info(assignment: Assignment, image: str) -> dict[str, Any]:
    return {"uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"seqlab:{assignment.id}")),
            "title": f"seqlab: {assignment.id}", "topic": "Sequence models", "tags": ["seqlab"],
            "type": "v3", "singleVariant": True, "gradingMethod": "External",
            "externalGradingOptions": {"enabled": True, "image": image, "serverFilesCourse": [f"{FOLDER}/"],
                                       "entrypoint": f"/grade/serverFilesCourse/{FOLDER}/run.sh",
                                       "timeout": TIMEOUT}}


def build_package(assignment: Assignment, out: Path, lang: str = "en", image: str = "seqlab-grader",
                  torch_index: str = "") -> Path:
    """Write serverFilesCourse/seqlab/, questions/<id>/ and the Dockerfile under `out`."""
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        here = staging / "serverFilesCourse" / FOLDER
        copy_engine(assignment, here)
        (here / "run.sh").write_text(RUN_SH, encoding="utf-8")
        (here / "run.sh").chmod(0o755)
        (here / "grader.json").write_text(json.dumps({"assignment": assignment.id, "lang": lang}, indent=2) + "\n")
        (here / "requirements.txt").write_text("\n".join(requirements()[1:]) + "\n")
        question = staging / "questions" / assignment.id
        question.mkdir(parents=True)
        (question / "info.json").write_text(json.dumps(_info(assignment, image), indent=2) + "\n")
        (question / "question.html").write_text(QUESTION_HTML.format(id=assignment.id))
        (staging / "Dockerfile").write_text(DOCKERFILE.replace("__TORCH_PIN__", TORCH_PIN)
                                            .replace("__TORCH_INDEX__", torch_index))
        out.mkdir(parents=True, exist_ok=True)
        for name in ("serverFilesCourse", "questions", "Dockerfile"):
            target = out / name
            if target.is_dir():
                shutil.rmtree(target / FOLDER if name == "serverFilesCourse" else target / assignment.id,
                              ignore_errors=True)
            if (staging / name).is_dir():
                shutil.copytree(staging / name, target, dirs_exist_ok=True)
            else:
                shutil.copy2(staging / name, target)
    return out


def to_results(graded: Graded, assignment: Assignment, lang: str, redact: Redactor) -> dict[str, Any]:
    """PrairieLearn's results.json for one graded (or ungradable) submission."""
    labels = strings(lang)
    result = graded.result
    if result is None or result.status in ("invalid", "error"):
        reason = student_text(graded.problem if result is None else result.error, redact)
        return {"gradable": False, "score": 0.0, "format_errors": [reason],
                "message": f"{labels['not_graded_student']}: {reason}", "tests": []}
    tests = [{"name": title_of(t.id, assignment, lang), "description": t.id, "points": float(t.points),
              "max_points": float(t.max_points), "message": item_feedback(t, assignment, lang, redact)}
             for t in result.tests]
    if result.status == "timeout":
        tests = [{"name": title_of(i.id, assignment, lang), "description": i.id, "points": 0.0,
                  "max_points": float(i.points), "message": student_text(result.error, redact)}
                 for i in assignment.rubric]
    top = result.max_score or assignment.max_score
    score = min(1.0, max(0.0, result.score / top)) if top else 0.0
    lines = [f"{labels['score_line']}: {result.score:g} / {top:g}"]
    if result.status != "graded":
        lines.append(f"{labels['not_graded_student']}: {student_text(result.error, redact)}")
    lines += [student_text(n, redact) for n in result.notes]
    return {"gradable": True, "score": score, "message": "\n".join(lines), "tests": tests}


def run(root: Path) -> int:
    """Grade root/student/ per serverFilesCourse/seqlab/grader.json; write root/results/results.json."""
    results_path = root / "results" / "results.json"
    config = json.loads((root / "serverFilesCourse" / FOLDER / "grader.json").read_text(encoding="utf-8"))
    lang = config.get("lang", "en")
    try:
        assignment = load_assignment(config["assignment"])
        redact = Redactor(assignment, [root, assignment.root, Path(tempfile.gettempdir())])
        graded = grade_single(assignment, root / "student", "prairielearn")
        write_results(results_path, to_results(graded, assignment, lang, redact))
    except Exception as exc:  # noqa: BLE001 - not the student's fault: not gradable, cause in the log
        print(f"seqlab: autograder failure: {type(exc).__name__}: {exc}", flush=True)
        write_results(results_path, {"gradable": False, "score": 0.0, "tests": [],
                                     "format_errors": [strings(lang)["autograder_failed"]],
                                     "message": strings(lang)["autograder_failed"]})
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run.sh", description="grade one PrairieLearn submission")
    parser.add_argument("--root", type=Path, default=Path(os.environ.get(ROOT_ENV, "/grade")))
    args = parser.parse_args(argv)
    return run(args.root.resolve())


if __name__ == "__main__":
    sys.exit(main())
