"""Stand-in for the 1Password CLI ``op`` (the real one cannot run on the test machines).

Follows op's documented behaviour for ``op read [--no-newline] REFERENCE``: the value on
stdout (plus a newline unless ``-n``/``--no-newline``), exit 0; on failure one line
``[ERROR] YYYY/MM/DD HH:MM:SS message`` on stderr and exit 1.  Auth comes from
OP_SERVICE_ACCOUNT_TOKEN.  Data: JSON at $PANESEAL_FAKE_DATA, key "op":
{"token": "...", "vaults": {"VAULT": {"ITEM": {"FIELD": "value", "SECTION/FIELD": "value"}}}}.
Every call's argv is appended to $PANESEAL_FAKE_CALLS.
"""

import json
import os
import sys
import time
from typing import Any, NoReturn


def fail(message: str) -> NoReturn:
    stamp = time.strftime("%Y/%m/%d %H:%M:%S")
    sys.stderr.write(f"[ERROR] {stamp} {message}\n")
    sys.exit(1)


def main(argv: list[str]) -> int:
    with open(os.environ["PANESEAL_FAKE_CALLS"], "a") as fh:
        fh.write(json.dumps(argv) + "\n")
    with open(os.environ["PANESEAL_FAKE_DATA"]) as fh:
        data: Any = json.load(fh).get("op", {})
    time.sleep(data.get("delay", 0))
    args = [a for a in argv if a != "--"]
    newline = "-n" not in args and "--no-newline" not in args
    args = [a for a in args if a not in ("-n", "--no-newline")]
    if len(args) != 2 or args[0] != "read":
        fail(f"unknown command {' '.join(args)!r} for this stand-in")
    ref = args[1]
    token = os.environ.get("OP_SERVICE_ACCOUNT_TOKEN")
    if not token:
        fail("You are not currently signed in. Please run `op signin --help` for instructions")
    if token != data.get("token"):
        fail("failed to create client: (401) Unauthorized: invalid service account token")
    if not ref.startswith("op://"):
        fail(f"could not read secret '{ref}': invalid secret reference: missing op:// prefix")
    path = ref[len("op://") :].split("?")[0].split("/")
    if len(path) not in (3, 4):
        fail(
            f"could not read secret '{ref}': invalid secret reference '{ref}': too many '/': "
            "secret references should match op://<vault>/<item>[/<section>]/<field>"
        )
    vault, item, field = path[0], path[1], "/".join(path[2:])
    vaults = data.get("vaults", {})
    if vault not in vaults:
        fail(
            f"could not read secret '{ref}': \"{vault}\" isn't a vault in this account. "
            "Specify the vault with its ID or name."
        )
    if item not in vaults[vault]:
        fail(
            f"could not read secret '{ref}': could not get item {vault}/{item}: \"{item}\" "
            f'isn\'t an item in the "{vault}" vault. Specify the item with its UUID, name, '
            "or domain."
        )
    fields = vaults[vault][item]
    if field not in fields:
        fail(f'could not read secret \'{ref}\': "{path[-1]}" isn\'t a field in the "{item}" item')
    sys.stdout.write(fields[field] + ("\n" if newline else ""))
    return 0


sys.exit(main(sys.argv[1:]))
