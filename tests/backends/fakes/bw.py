"""Stand-in for the Bitwarden CLI ``bw`` (the real one needs a Bitwarden server).

Follows bw's documented behaviour for ``bw get item|password|notes|username ID_OR_SEARCH``:
``get item`` prints the item as one line of JSON, the others the bare value (no trailing
newline), exit 0.  Failures print one message on stderr and exit 1: "Not found.",
"More than one result was found. Try getting a specific object by `id` instead. The
following objects were found:" followed by the ids, "You are not logged in.", "Vault is
locked.".  The search matches an id exactly or a name case-insensitively as a substring, as
bw's basic search does.  The vault is unlocked by BW_SESSION.  Data: JSON at
$PANESEAL_FAKE_DATA, key "bw": {"session": "...", "logged_in": true, "items": [ITEM...]}.
Every call's argv is appended to $PANESEAL_FAKE_CALLS.
"""

import json
import os
import sys
from typing import Any, NoReturn


def fail(message: str) -> NoReturn:
    sys.stderr.write(message + "\n")
    sys.exit(1)


def main(argv: list[str]) -> int:
    with open(os.environ["PANESEAL_FAKE_CALLS"], "a") as fh:
        fh.write(json.dumps(argv) + "\n")
    with open(os.environ["PANESEAL_FAKE_DATA"]) as fh:
        data: Any = json.load(fh).get("bw", {})
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 3 or args[0] != "get":
        fail("Invalid command for this stand-in.")
    what, key = args[1], args[2]
    if not data.get("logged_in", True):
        fail("You are not logged in.")
    if not os.environ.get("BW_SESSION") or os.environ["BW_SESSION"] != data.get("session"):
        fail("Vault is locked.")
    items = data.get("items", [])
    found = [i for i in items if i.get("id") == key]
    if not found:
        found = [i for i in items if key.lower() in i.get("name", "").lower()]
    if not found:
        fail("Not found.")
    if len(found) > 1:
        ids = "\n".join(i["id"] for i in found)
        fail(
            "More than one result was found. Try getting a specific object by `id` instead. "
            "The following objects were found:\n" + ids
        )
    item = found[0]
    if what == "item":
        sys.stdout.write(json.dumps(item))
    elif what in ("password", "username", "totp"):
        value = (item.get("login") or {}).get(what)
        if value is None:
            fail("Not found.")
        sys.stdout.write(value)
    elif what == "notes":
        if item.get("notes") is None:
            fail("Not found.")
        sys.stdout.write(item["notes"])
    else:
        fail("Unknown object.")
    return 0


sys.exit(main(sys.argv[1:]))
