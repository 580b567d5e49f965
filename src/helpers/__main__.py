"""``python -m helpers``: the command-line front door."""

from helpers.cli import main

raise SystemExit(main())
