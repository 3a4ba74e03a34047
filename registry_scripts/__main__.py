"""``python -m registry_scripts <command>``: one argparse front end, errors as messages not tracebacks."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

from registry_scripts import gate, listing, promote, register, review_export, rollback, shadow
from registry_scripts._common import DEFAULT_MODEL_NAME, EXIT_ERROR, CommandError, explain_mlflow_error

COMMANDS: dict[str, tuple[object, str]] = {
    "register": (register, "register a training run's model as a new version, tagged with metrics, data and commit"),
    "promote": (promote, "move a version to staging (@challenger) or production (@champion; gated unless --force)"),
    "gate": (gate, "compare a candidate with the champion on held-out data; non-zero exit when refused"),
    "rollback": (rollback, "make the previous champion the champion/Production again"),
    "list": (listing, "table of versions, stages, aliases, key metrics, created, source run"),
    "shadow": (shadow, "replay captured traffic through a candidate beside the champion: agreement, review, drift"),
    "review-export": (review_export, "captured rows that needed review, with top alternatives, as a CSV to label"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m registry_scripts",
        description="Move the product classifier from a training run to production and back. "
        "Uses MLFLOW_TRACKING_URI (default: sqlite:///mlflow.db in the working folder); "
        "HTTP retries default to 2 (MLFLOW_HTTP_REQUEST_MAX_RETRIES) so outages are reported quickly.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for command, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(command, help=help_text, description=help_text)
        p.add_argument(
            "--registered-model-name", default=DEFAULT_MODEL_NAME, help="registered model name (default: %(default)s)"
        )
        module.add_arguments(p)  # type: ignore[attr-defined]
        p.set_defaults(handler=module.run)  # type: ignore[attr-defined]
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # MLflow's client defaults retry failed HTTP calls for minutes; an interactive command should say
    # what is wrong within seconds. Values the user set win.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    import mlflow  # noqa: F401 - configures MLflow's loggers, which are then quietened to warnings

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from mlflow.exceptions import MlflowException

        if isinstance(exc, MlflowException):
            err = explain_mlflow_error(exc, args.command, args.registered_model_name)
            print(f"error: {err}", file=sys.stderr)
            return err.exit_code
        raise
    return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
