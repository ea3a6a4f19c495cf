"""`manage.py unblock_worker PROVIDER:ID`: take a worker off the local blocklist."""

from qualifications_app.management.commands.block_worker import Command as BlockCommand


class Command(BlockCommand):
    help = (
        "Take a worker off the local blocklist. "
        "Example: manage.py unblock_worker mturk:A1B2C3D4E5 --reason 'appeal accepted'"
    )
    blocked = False
