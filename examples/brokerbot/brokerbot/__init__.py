"""brokerbot: the backend of a small brokerage bot (demo project).

The package holds the SQLAlchemy models (``models``), the database URL
helpers shared with ``migrations/env.py`` (``db``), the sample-data
generator (``seed``) and the command that prepares the demo database
(``demo_setup``).
"""

from __future__ import annotations

__version__ = "1.4.0"
