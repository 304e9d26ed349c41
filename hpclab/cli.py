"""The `hpclab` command: `hpclab doctor`, `hpclab execute [--bench FILE] [NOTEBOOK...]`."""

from __future__ import annotations

import sys

USAGE = """usage: hpclab COMMAND

commands:
  doctor                               versions, devices, optional libraries, TPU, strategy
  execute [NOTEBOOK...]                re-run notebooks in place (stored outputs; `make execute`)
  execute --bench FILE [NOTEBOOK...]   time notebooks, write a table to FILE (`make bench`)
"""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "doctor":
        from hpclab import doctor

        return doctor.main()
    if command == "execute":
        from hpclab import execute

        return execute.main(rest)
    print(f"unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
