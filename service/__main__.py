"""`python -m service`: serve (the default), ask or mcp."""

from service.cli import cli

if __name__ == "__main__":
    cli(prog_name="python -m service")
