"""`python -m dagspec`: the command line."""

from dagspec.cli import main

raise SystemExit(main())
