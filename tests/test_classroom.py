"""The student release and its grading, end to end with nbgrader itself."""

import json
import pathlib
import shutil

import nbformat
import pytest

from hpclab import classroom

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# The lesson the end-to-end grading test releases: a short one, so the test stays fast.
GRADED_LESSON = ROOT / "notebooks" / "08_model_parallelism.ipynb"


def _code(source):
    return nbformat.v4.new_code_cell(source)


def _toy(path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Toy"),
        _code("x = 3"),
        _code("# nbgrader: answer ex-double\ndef double(v):\n    ### BEGIN SOLUTION\n    return 2 * v\n"
              "    ### END SOLUTION"),
        _code("# nbgrader: tests ex-double, 2 points\nassert double(2) == 4\n### BEGIN HIDDEN TESTS\n"
              "assert double(-1) == -2\n### END HIDDEN TESTS"),
        nbformat.v4.new_markdown_cell("<!-- nbgrader: discussion ex-why, 1 point -->\nBecause."),
        _code("print('after the exercises', x)"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_annotate_turns_markers_into_nbgrader_metadata(tmp_path):
    nb = json.loads(_toy(tmp_path / "99_toy.ipynb").read_text())
    exercises = classroom.annotate(nb)
    assert exercises == [{"id": "ex-double", "kind": "graded", "points": 2.0},
                         {"id": "ex-why", "kind": "discussion", "points": 1.0}]
    meta = [c["metadata"].get("nbgrader") for c in nb["cells"]]
    assert meta[2]["solution"] and not meta[2]["grade"]
    assert meta[3]["grade"] and meta[3]["locked"] and meta[3]["points"] == 2.0
    assert meta[4]["solution"] and meta[4]["grade"] and meta[1] is None


@pytest.mark.parametrize("cells, message", [
    (["# nbgrader: answer a\nx = 1", "# nbgrader: tests a, 1 point\nassert x"], "BEGIN SOLUTION"),
    (["# nbgrader: tests a, 1 point\nassert 1"], "put the answer cell first"),
    (["# nbgrader: answer a\n### BEGIN SOLUTION\n### END SOLUTION", "# nbgrader: tests a\nassert 1"],
     "need points"),
    (["# nbgrader: answer a\n### BEGIN SOLUTION\n### END SOLUTION"], "answers without tests"),
    (["# nbgrader: anwser a"], "unreadable marker"),
])
def test_bad_markers_name_the_fix(cells, message):
    nb = {"cells": [{"cell_type": "code", "source": s, "metadata": {}} for s in cells]}
    with pytest.raises(classroom.ExerciseError, match=message):
        classroom.annotate(nb)


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_lesson_has_well_formed_exercises(nb_path):
    classroom.annotate(json.loads(nb_path.read_text()), nb_path.name)


def _grade(course, assignment, student):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        submission = gb.find_submission(assignment, student)
        graded = sum(g.score for nb in submission.notebooks for g in nb.grades if g.name.endswith("-tests"))
        return graded, submission.max_score


def _release_and_grade(tmp_path, lesson):
    """Release one lesson, submit the instructor and the untouched student version, autograde."""
    made = classroom.release([lesson], tmp_path / "release")
    course, name = made["course"], lesson.stem
    student_nb = made["student"] / lesson.name
    # the instructor's version, as nbgrader sees it (cell roles in metadata), stands for a
    # student who answered everything right
    instructor_nb = course / "source" / name / lesson.name
    for student, source in (("instructor", instructor_nb), ("untouched", student_nb)):
        folder = course / "submitted" / student / name
        folder.mkdir(parents=True)
        shutil.copy(source, folder / lesson.name)
    result = classroom._nbgrader("autograde", name, "--force", course=course)
    assert result.returncode == 0, result.stderr[-3000:]
    return made, course, name


def _check_release_and_grades(tmp_path, lesson):
    made, course, name = _release_and_grade(tmp_path, lesson)
    exercises = made["exercises"][name]
    graded_points = sum(e["points"] for e in exercises if e["kind"] == "graded")
    assert graded_points > 0, "no graded exercise to grade"

    student_text = (made["student"] / lesson.name).read_text()
    assert "### BEGIN SOLUTION" not in student_text and "BEGIN HIDDEN TESTS" not in student_text
    nbformat.validate(nbformat.read(made["student"] / lesson.name, as_version=4))  # opens cleanly
    assert made["zip"].is_file()

    full, _ = _grade(course, name, "instructor")
    assert full == graded_points, f"the instructor version scored {full} of {graded_points}"
    zero, _ = _grade(course, name, "untouched")
    assert zero == 0, f"an untouched student notebook scored {zero}"

    # every cell that is not an exercise still ran in the untouched student version
    graded = nbformat.read(course / "autograded" / "untouched" / name / lesson.name, as_version=4)
    for cell in graded.cells:
        role = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or role.get("grade") or role.get("solution"):
            continue
        if "NBVAL_RAISES_EXCEPTION" in cell.source:
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, (
            f"a lesson cell failed without the solutions: {cell.source[:80]!r}: {errors[0].ename}")

    # a student who edits a locked test cell is caught: nbgrader stored a checksum of every
    # graded cell at release, and `nbgrader validate` compares against it (as here)
    from nbgrader import utils

    tampered = nbformat.read(made["student"] / lesson.name, as_version=4)
    tests = next(c for c in tampered.cells
                 if c.metadata.get("nbgrader", {}).get("grade_id", "").endswith("-tests"))
    assert utils.compute_checksum(tests) == tests.metadata.nbgrader["checksum"]
    tests.source = "pass  # the tests were here"
    assert utils.compute_checksum(tests) != tests.metadata.nbgrader["checksum"]
    path = tmp_path / lesson.name
    nbformat.write(tampered, path)
    return path


def test_release_and_autograde_a_toy_lesson(tmp_path):
    tampered = _check_release_and_grades(tmp_path, _toy(tmp_path / "99_toy.ipynb"))
    from nbgrader.validator import Validator
    from traitlets.config import Config

    config = Config()
    config.Execute.timeout, config.Execute.iopub_timeout = 900, 60
    report = Validator(config=config).validate(str(tampered))
    assert report.get("changed"), f"nbgrader validate missed a changed test cell: {report}"


def test_release_and_autograde_a_real_lesson(tmp_path):
    if not any(e["kind"] == "graded" for e in classroom.annotate(json.loads(GRADED_LESSON.read_text()))):
        pytest.fail(f"{GRADED_LESSON.name} has no graded exercise yet")
    _check_release_and_grades(tmp_path, GRADED_LESSON)
