"""Provider settings from config.toml and a project's ``paneseal:`` block, end to end."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pshelp import canary, run_paneseal

if TYPE_CHECKING:
    from backends.conftest import Moto, PassStore
    from pshelp import Home


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[providers.aws-sm]\nregoin = "eu-west-1"\n', "providers.aws-sm.regoin: unknown setting"),
        ('[providers.pass]\nstore_dir = "rel"\n', "providers.pass.store_dir: store_dir must be"),
        ('[providers.keyring]\nbackend = "keyrings.alt.file.PlaintextKeyring"\n', "refused"),
        ("[providers.op]\nmax_workers = 0\n", "providers.op.max_workers: max_workers must be"),
        ("[providers.bw]\nsession = 'x'\n", "providers.bw.session: unknown setting"),
    ],
    ids=["aws-sm", "pass", "keyring", "op", "bw"],
)
def test_bad_provider_settings_are_one_clear_line(home: Home, table: str, message: str) -> None:
    (home.config / "paneseal").mkdir(parents=True)
    (home.config / "paneseal" / "config.toml").write_text(table)
    scheme = table.split(".")[1].split("]", maxsplit=1)[0]
    ref = {
        "aws-sm": "aws-sm://x",
        "pass": "pass://x",
        "keyring": "keyring://s/u",
        "op": "op://v/i/f",
        "bw": "bw://x",
    }[scheme]
    r = run_paneseal("run", "--secret", f"X={ref}", "--", "true")
    err = r.stderr.decode()
    assert r.returncode == 3, err
    assert message in err
    assert "config.toml" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_project_overrides_config_toml(home: Home, pass_store: PassStore, moto: Moto) -> None:
    """config.toml points pass at a store that does not exist and aws-sm at the wrong region;
    the project's own ``paneseal:`` block corrects both."""
    pw, token = canary(), canary()
    pass_store.put("proj/db", pw)
    moto.client("secretsmanager", region="eu-west-1").create_secret(Name="t", SecretString=token)
    (home.config / "paneseal").mkdir(parents=True)
    (home.config / "paneseal" / "config.toml").write_text(
        '[providers.pass]\nstore_dir = "/nonexistent"\n[providers.aws-sm]\nregion = "us-west-2"\n'
    )
    project = home.tmuxinator / "proj.yml"
    body = (
        "name: proj\nroot: ~/\n"
        "secrets:\n  DB: pass://proj/db\n  TOKEN: aws-sm://t\n"
        "paneseal:\n  providers:\n"
        f"    pass: {{store_dir: {pass_store.dir}}}\n"
        "    aws-sm: {region: eu-west-1}\n"
        "windows:\n  - main: echo\n"
    )
    project.write_text(body)
    r = run_paneseal("run", "--project", "proj", "--", "sh", "-c", 'printf "%s %s" "$DB" "$TOKEN"')
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode() == f"{pw} {token}"
    project.write_text(body.split("paneseal:", maxsplit=1)[0] + "windows:\n  - main: echo\n")
    r = run_paneseal("run", "--project", "proj", "--", "true")
    err = r.stderr.decode()
    assert r.returncode == 5
    assert "no password store at /nonexistent" in err
    assert "ResourceNotFoundException" in err
