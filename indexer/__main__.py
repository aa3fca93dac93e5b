"""`python -m indexer`."""

from indexer.cli import cli

if __name__ == "__main__":
    cli(prog_name="python -m indexer")
