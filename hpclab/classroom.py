"""Graded exercises with nbgrader: the student release (`make student`) and its grading.

The instructor notebooks in notebooks/ keep their solutions and are tested like every lesson.
nbgrader needs its roles in cell metadata, which nbfmt (the notebooks' formatter) drops, so
each exercise cell says its role on its first line, where every contributor sees it:

    # nbgrader: answer ex04-batch               code cell: an autograded answer; the reference
                                                solution sits between ### BEGIN SOLUTION and
                                                ### END SOLUTION
    # nbgrader: tests ex04-batch, 2 points      code cell: the locked autograder tests
    <!-- nbgrader: discussion ex04-why, 1 point -->   markdown cell: a manually graded answer
                                                (the whole cell is the model answer)

``annotate`` turns these lines into nbgrader metadata; ``release`` then runs nbgrader's own
``generate_assignment`` (it strips the solutions and hidden tests, clears outputs and stores
checksums) and gathers the student notebooks into one folder and a zip to hand out.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import zipfile

CODE_MARKER = re.compile(
    r"#\s*nbgrader:\s*(answer|tests)\s+([A-Za-z0-9_-]+)(?:\s*,\s*([0-9.]+)\s*points?)?\s*$")
MARKDOWN_MARKER = re.compile(
    r"<!--\s*nbgrader:\s*discussion\s+([A-Za-z0-9_-]+)\s*,\s*([0-9.]+)\s*points?\s*-->")
SCHEMA = {"schema_version": 3, "task": False}


class ExerciseError(ValueError):
    """An exercise cell whose marker line or content nbgrader could not use."""


def _first_line(cell) -> str:
    source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    return source.lstrip().splitlines()[0] if source.strip() else ""


def _source(cell) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def annotate(nb: dict, name: str = "notebook") -> list[dict]:
    """Add nbgrader metadata to the marked cells of a notebook (a dict, changed in place).

    Returns the exercises: [{"id", "kind" (graded/discussion), "points"}]. Raises ExerciseError
    naming the cell and the fix for a marker nbgrader could not grade.
    """
    exercises, answers, seen = [], set(), set()
    for index, cell in enumerate(nb["cells"]):
        where = f"{name} cell {index}"
        meta = None
        if cell["cell_type"] == "code" and (match := CODE_MARKER.match(_first_line(cell))):
            role, ident, points = match.groups()
            if role == "answer":
                if "### BEGIN SOLUTION" not in _source(cell) or "### END SOLUTION" not in _source(cell):
                    raise ExerciseError(f"{where}: answer {ident} needs its reference solution between "
                                        "### BEGIN SOLUTION and ### END SOLUTION")
                answers.add(ident)
                meta = {"grade": False, "grade_id": ident, "locked": False, "solution": True}
            else:
                if ident not in answers:
                    raise ExerciseError(f"{where}: tests {ident} come before (or without) "
                                        f"'# nbgrader: answer {ident}': put the answer cell first")
                if points is None or float(points) <= 0:
                    raise ExerciseError(f"{where}: tests {ident} need points, e.g. "
                                        f"'# nbgrader: tests {ident}, 2 points'")
                ident = f"{ident}-tests"
                meta = {"grade": True, "grade_id": ident, "locked": True, "points": float(points),
                        "solution": False}
                exercises.append({"id": ident[:-6], "kind": "graded", "points": float(points)})
        elif cell["cell_type"] == "markdown" and (match := MARKDOWN_MARKER.search(_source(cell))):
            ident, points = match.group(1), float(match.group(2))
            if points <= 0:
                raise ExerciseError(f"{where}: discussion {ident} needs points > 0")
            meta = {"grade": True, "grade_id": ident, "locked": False, "points": points, "solution": True}
            exercises.append({"id": ident, "kind": "discussion", "points": points})
        elif "nbgrader:" in _first_line(cell):
            raise ExerciseError(f"{where}: unreadable marker {_first_line(cell)!r}; write "
                                "'# nbgrader: answer ID', '# nbgrader: tests ID, N points' or "
                                "'<!-- nbgrader: discussion ID, N points -->'")
        if meta is None:
            cell.get("metadata", {}).pop("nbgrader", None)
            continue
        if meta["grade_id"] in seen:
            raise ExerciseError(f"{where}: the id {meta['grade_id']!r} is used twice: ids must be unique")
        seen.add(meta["grade_id"])
        cell.setdefault("metadata", {})["nbgrader"] = {**meta, **SCHEMA}
    graded = {e["id"] for e in exercises if e["kind"] == "graded"}
    if answers - graded:
        raise ExerciseError(f"{name}: answers without tests: {sorted(answers - graded)}")
    return exercises


def _cell_ids(nb: dict) -> None:
    """Make the notebook valid nbformat 4.5 (cell ids): nbgrader's output keeps the ids it adds,
    and a 4.0 notebook with ids fails validation when a student opens it."""
    nb["nbformat_minor"] = max(int(nb.get("nbformat_minor", 0)), 5)
    used = set()
    for index, cell in enumerate(nb["cells"]):
        ident = str(cell.get("id") or cell.get("metadata", {}).get("id") or f"cell-{index}")[:64]
        while ident in used:
            ident = f"{ident[:58]}-{index}"
        cell["id"] = ident
        used.add(ident)


def _nbgrader(*args, course: pathlib.Path) -> subprocess.CompletedProcess:
    """Run an nbgrader command on a course folder (nbgrader calls `alembic` from PATH: put this
    environment's bin folder first, as an activated environment would)."""
    env = dict(os.environ, PATH=os.pathsep.join([str(pathlib.Path(sys.executable).parent),
                                                 os.environ.get("PATH", "")]))
    return subprocess.run([sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}"],
                          cwd=course, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env)


def generate(notebooks, course) -> dict:
    """Put each notebook in an nbgrader course folder (one assignment each, named after the
    notebook) and run nbgrader generate_assignment; returns {assignment: exercises}."""
    course = pathlib.Path(course)
    (course / "source").mkdir(parents=True, exist_ok=True)
    # nbgrader stops a cell after 30 s, and waits 4 s for a cell's first output, by default: on a
    # busy or slow machine a lesson's setup cell (TensorFlow's import) or lesson 06's cluster
    # launch takes longer.
    (course / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\nc.CourseDirectory.course_id = 'hpclab'\n"
        "c.Execute.timeout = 900\nc.Execute.iopub_timeout = 60\n")
    found = {}
    for path in map(pathlib.Path, notebooks):
        if path.suffix != ".ipynb" or not path.is_file():
            raise ExerciseError(f"{path}: not a notebook file (expected notebooks/NN_topic.ipynb)")
        nb = json.loads(path.read_text())
        exercises = annotate(nb, path.name)
        _cell_ids(nb)
        folder = course / "source" / path.stem
        folder.mkdir(parents=True, exist_ok=True)
        (folder / path.name).write_text(json.dumps(nb, indent=1))
        result = _nbgrader("generate_assignment", path.stem, "--force", course=course)
        if result.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment {path.stem} failed:\n{result.stderr[-3000:]}")
        found[path.stem] = exercises
    return found


def release(notebooks, out="release") -> dict:
    """`make student`: student notebooks in OUT/student/ and OUT/hpclab-student.zip.

    Solutions and hidden tests are stripped and outputs cleared by nbgrader itself; OUT/course
    is the nbgrader course folder (gradebook, source, release) for the instructor.
    """
    out = pathlib.Path(out)
    course, student = out / "course", out / "student"
    found = generate(notebooks, course)
    shutil.rmtree(student, ignore_errors=True)
    student.mkdir(parents=True)
    for assignment in found:
        for nb in (course / "release" / assignment).glob("*.ipynb"):
            shutil.copy(nb, student / nb.name)
    archive = out / "hpclab-student.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for nb in sorted(student.glob("*.ipynb")):
            zf.write(nb, f"hpclab-student/{nb.name}")
    return {"student": student, "zip": archive, "course": course, "exercises": found}


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m hpclab.classroom",
                                     description="Write the student release of the notebooks.")
    parser.add_argument("notebooks", nargs="*", help="default: notebooks/*.ipynb")
    parser.add_argument("--out", default="release", help="output folder (default: release)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted(pathlib.Path("notebooks").glob("*.ipynb"))
    try:
        made = release(notebooks, args.out)
    except (ExerciseError, RuntimeError) as err:
        print(err, file=sys.stderr)
        return 2
    for assignment, exercises in made["exercises"].items():
        graded = sum(e["kind"] == "graded" for e in exercises)
        print(f"{assignment:<40}{graded} graded, {len(exercises) - graded} discussion")
    print(f"student notebooks in {made['student']}/, to hand out: {made['zip']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
