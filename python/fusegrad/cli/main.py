"""``fusegrad`` entry point: builds the sub-command parsers and turns bad options or bad data
into one ``fusegrad <cmd>: error: ...`` line on stderr and exit status 2 (argparse's code)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["ArgumentParser", "build_parser", "main"]


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but an error is one line (``prog: error: message``), without the usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _HelpFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to option help, except where X is None/False or the help text
    already talks about its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (default is not None and default is not False and default != argparse.SUPPRESS
                and "default" not in text and action.option_strings):
            text += " (default: %(default)s)"
        return text


def build_parser(command: str | None = None) -> ArgumentParser:
    """The ``fusegrad`` parser; with ``command``, only that sub-command gets its options (the
    others would import their modules for nothing: ``landscape`` pulls in the analysis)."""
    from fusegrad.cli import bench_cmd, landscape_cmd, search_cmd, train_cmd

    parser = ArgumentParser(prog="fusegrad", description="fusegrad: train, search, benchmark "
                            "and analyse small neural networks.")
    parser.add_argument("--version", action="version", version=f"fusegrad {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for module in (train_cmd, search_cmd, bench_cmd, landscape_cmd):
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.DESCRIPTION,
                           formatter_class=_HelpFormatter)
        if command is None or command == module.NAME:
            module.add_arguments(p)
        p.set_defaults(run=module.run, parser=p)
    return parser


def _version() -> str:
    from fusegrad import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``fusegrad`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    from fusegrad.train.job import ConfigError

    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or an argparse error already printed
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    if getattr(args, "run", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.run(args) or 0)
    except ConfigError as e:
        # One line, even when the message quotes a multi-line error (load_state_dict's).
        message = "; ".join(part.strip() for part in str(e).splitlines() if part.strip())
        print(f"{args.parser.prog}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{args.parser.prog}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
