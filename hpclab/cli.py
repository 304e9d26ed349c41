"""The `hpclab` command: `hpclab doctor [--timeout S]`, `hpclab execute [--bench FILE] [NOTEBOOK...]`,
`hpclab report FILE... [-o PAGE]`, `hpclab student [--out DIR] [NOTEBOOK...]`.

`hpclab --help` and `hpclab COMMAND --help` say more.
"""

from __future__ import annotations

import argparse
import sys

from hpclab import checks


def _seconds(text: str) -> float:
    try:
        return checks.number("timeout", float(text), low=0, low_open=True)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, e.g. 300; got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hpclab", description="Helpers of the hpclab course.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    doctor = commands.add_parser("doctor", help="versions, devices, optional libraries, TPU, strategy")
    doctor.add_argument("--timeout", type=_seconds, default=90.0, metavar="S",
                        help="seconds each probe may take (default 90; raise it on a busy machine)")
    execute = commands.add_parser(
        "execute", help="re-run notebooks in place, storing their outputs (make execute)")
    execute.add_argument("--bench", metavar="FILE", help="time the notebooks instead, leave them "
                         "unchanged, write a Markdown table to FILE (make bench: notebooks/TIMINGS.md)")
    execute.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                         help="the .ipynb files to run (default: every notebooks/*.ipynb)")
    report = commands.add_parser(
        "report", help="one HTML page comparing the machines of a class (hpclab.results files)")
    report.add_argument("files", nargs="+", metavar="FILE",
                        help="results files, e.g. notebooks/results/machine-*.json from every machine")
    report.add_argument("-o", "--output", default="class-results.html", metavar="PAGE",
                        help="the HTML page to write (default: class-results.html)")
    student = commands.add_parser(
        "student", help="student notebooks without solutions, via nbgrader (make student)")
    student.add_argument("--out", default="release", metavar="DIR",
                         help="output folder (default: release)")
    student.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                         help="the lessons to release (default: every notebooks/*.ipynb)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error (2), already printed
        return int(stop.code or 0)
    if args.command == "doctor":
        from hpclab import doctor

        return doctor.main(args.timeout)
    if args.command == "execute":
        from hpclab import execute

        return execute.main(args.notebooks, bench=args.bench)
    if args.command == "report":
        from hpclab import report

        return report.main(args.files, args.output)
    if args.command == "student":
        from hpclab import classroom

        return classroom.main([*args.notebooks, "--out", args.out])
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
