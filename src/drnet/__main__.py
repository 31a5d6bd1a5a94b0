"""``python -m drnet``: the ``drnet`` command, for environments without the console script."""

from drnet.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
