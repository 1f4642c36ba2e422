"""Schemathesis hooks (scripts/schemathesis loads this module through SCHEMATHESIS_HOOKS).

The proxy permission writes need `if-match: file:v<N>` with the document's current version, and
random ids only ever reach their 404. For most generated calls to those routes, the path's `id`
becomes a project or container of the schemathesis user and `if-match` the document's current
version, read just before the call, so the success paths and the validation behind them are
exercised too; the rest keep what was generated (404, 400, 412, 428 paths).
"""

import json
import os
import random
import urllib.request

import schemathesis

BASE = os.environ.get("ST_BASE", "").rstrip("/")
TOKEN = os.environ.get("ST_AUTH_TOKEN", "")
# Seeded like the run, so that a rerun with the same seed makes the same choices.
_rng = random.Random(os.environ.get("ST_SEED", "20261126"))
_ids = {}


def _get(path):
    req = urllib.request.Request(BASE + path, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["data"]


def _first_id(data):
    """The first object with an `id` in a list answer, whatever its envelope key."""
    if isinstance(data, dict):
        for v in data.values():
            if isinstance(v, list) and v and isinstance(v[0], dict) and "id" in v[0]:
                return v[0]["id"]
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return data[0].get("id")
    return None


def _real_id(kind):
    if _ids.get(kind) is None:
        try:
            _ids[kind] = _first_id(_get(f"/api/v1/{kind}/?limit=1"))
        except Exception:  # noqa: BLE001 - none yet: keep the generated id, ask again later
            return None
    return _ids[kind]


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    path = case.operation.path
    if not BASE or not TOKEN or "/proxy/" not in path or "/aliases" in path:
        return
    kind = "containers" if path.startswith("/api/v1/containers/") else "projects"
    if _rng.random() < 0.7 and case.path_parameters and "id" in case.path_parameters:
        real = _real_id(kind)
        if real:
            case.path_parameters["id"] = real
    if case.method.upper() == "GET" or _rng.random() < 0.2:
        return
    doc_id = (case.path_parameters or {}).get("id")
    try:
        version = _get(f"/api/v1/{kind}/{doc_id}/proxy/permissions")["file_version"]
    except Exception:  # noqa: BLE001 - not the user's: the call gets its 404 anyway
        return
    case.headers = {**(case.headers or {}), "if-match": f"file:v{version}"}
