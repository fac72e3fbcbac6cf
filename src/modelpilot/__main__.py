"""`python -m modelpilot` runs the CLI."""

from __future__ import annotations

from modelpilot.cli import main

if __name__ == "__main__":
    main()
