"""What every crowdsite management command shares: `--help` that ends with the
command's examples, line breaks kept."""

from __future__ import annotations

from argparse import RawDescriptionHelpFormatter

from django.core.management.base import BaseCommand, CommandParser


class ExamplesCommand(BaseCommand):
    """A command whose `--help` ends with `examples`, printed as written."""

    examples = ""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = RawDescriptionHelpFormatter
        parser.epilog = self.examples
        return parser
