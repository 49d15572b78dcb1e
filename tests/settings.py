"""Test settings: the real settings, read after pointing the data dir at a temporary folder.

pytest-django imports settings before any conftest runs, so the environment the tests need
(a private data dir, no target leaking in from the shell) is set here, first.
"""

import os
import tempfile
from pathlib import Path

# The tests decide every setting of the tool: none leaks in from the shell that runs them.
for _name in [n for n in os.environ if n.startswith("PGADMIN_")]:
    os.environ.pop(_name)
os.environ["PGADMIN_DATA_DIR"] = tempfile.mkdtemp(prefix="pgadmin-test-")
os.environ["DATABASE_URL"] = ""
os.environ["PGADMIN_PROJECT_DIR"] = str(Path(__file__).resolve().parent.parent / "examples" / "brokerbot")

from pgadmin_site.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast hashing in tests only

# The internal test DB as a file, like in production: SQLite's in-memory shared cache has no
# busy timeout, so concurrent writers (e.g. audit entries from ten threads) would fail at once
# instead of waiting as they do on the real file with OPTIONS["timeout"].
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(os.environ["PGADMIN_DATA_DIR"], "test-internal.sqlite3")}  # noqa: F405

# Test-client pages wait for the project's answers (the pages-first tests turn it on), and nothing warms
# the caches behind a test's back (the warm-up tests turn it on).
PAGES_FIRST = False
WARM_ON_START = False
