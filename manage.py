#!/usr/bin/env python
"""Django's command-line utility for PostgreSQL Admin (`python manage.py serve`)."""

import sys


def main() -> None:
    from pgadmin_site.entry import use_tool_settings

    use_tool_settings()  # the tool's settings even when the project's DJANGO_SETTINGS_MODULE is in the environment
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
