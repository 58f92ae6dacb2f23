"""``python -m gradflow``: the same command line as ``gradflow`` (see :mod:`gradflow.cli`)."""

from gradflow.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
