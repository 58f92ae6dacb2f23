"""``python -m gradflow``: the same command line as ``gradflow`` (see :mod:`gradflow.cli`)."""

from gradflow.cli import main

raise SystemExit(main())
