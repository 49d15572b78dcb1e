"""The whole API, fuzzed from its own OpenAPI schema: bad input is never a 500.

Schemathesis generates requests for every operation of ``/api/schema`` (paths, query strings
and bodies, valid and invalid) and sends them, as an admin with a token, to the real served
instance on the demo database. Three checks: no server error (every refusal is a 4xx with the
error vocabulary), every status code is one the schema declares, and every response body matches
the schema's serializer for that operation and code (so the OpenAPI schema stays true). The seed
is fixed so that a failure is reproducible.

Two depths (``TEST_FUZZ``). ``make test`` runs the quick one: the examples and fuzzing phases, up to 8
generated requests (valid and invalid) per operation, every operation reached. ``make fuzz``
(``TEST_FUZZ=full``) adds schemathesis' coverage phase: every boundary value, missing field, wrong
type and unexpected method the schema implies, about 2,000 more requests (three times as long).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import FUZZ_FULL, PASSWORD
from tests.serving import add_user

pytestmark = pytest.mark.slow

# `make fuzz` (FUZZ_FULL) runs the coverage phase too; the quick depth leaves it out (1,950 of its
# 2,150 requests: ~45 s alone, ~100 s in `make test`), its random phase reaches every operation.
PHASES = "examples,coverage,fuzzing" if FUZZ_FULL else "examples,fuzzing"


def _token(base_url: str) -> str:
    request = urllib.request.Request(base_url + "/api/auth/token", method="POST",
                                     data=json.dumps({"username": "alice", "password": PASSWORD}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.load(response)["token"])


def test_no_generated_request_makes_the_server_fail(served_demo, tmp_path):
    add_user(served_demo, "alice", "admin", PASSWORD)
    token = _token(served_demo.base_url)
    cli = Path(sys.executable).with_name("schemathesis")
    proc = subprocess.run(
        [str(cli), "run", served_demo.base_url + "/api/schema", "--url", served_demo.base_url,
         # the token authenticates the schema download (/api/schema is behind login) and every call;
         # logout and token revocation are left out: fuzzing them would revoke that very token
         "-H", f"Authorization: Token {token}",
         # every answer: no 5xx, a status the schema declares, and a body of the declared shape
         "--checks", "not_a_server_error,status_code_conformance,response_schema_conformance",
         "--exclude-path-regex", "^/api/auth/(logout|tokens/)",
         "--max-examples", "8", "--seed", "20261125", "--phases", PHASES,
         "--request-timeout", "60", "--no-color"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    summary = "\n".join(proc.stdout.splitlines()[-40:])
    assert proc.returncode == 0, summary
    assert "Server error" not in proc.stdout, summary
    assert "Traceback" not in served_demo.output
    # not vacuous: every selected operation was reached, and as a logged-in admin (not a wall of 401s)
    selected = re.search(r"Selected: (\d+)/\d+", proc.stdout)
    tested = re.search(r"Tested: (\d+)", proc.stdout)
    assert selected and tested and int(tested.group(1)) == int(selected.group(1)) >= 40, summary
    if FUZZ_FULL:  # the summary's line of a phase that ran and passed
        assert "✅ Coverage" in proc.stdout, summary
    assert '"POST /api/database/query" 200' in served_demo.output
