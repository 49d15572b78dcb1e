"""`manage.py create-reader-role`: the same command as `create_reader_role` (the spelling in the docs)."""

from core.management.commands.create_reader_role import Command

__all__ = ["Command"]
