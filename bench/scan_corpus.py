"""Generate a labelled corpus of tmuxinator-style projects for bench_scan.py.

Each file is a plausible project (template comments, windows, panes, block scalars, ERB)
padded to about 10 kB; secrets of every kind are planted in panes, pre_window, block
scalars, comments and ERB, next to realistic decoys (references, placeholders, UUIDs, git
SHAs, checksums in URLs, ports, prompts ...).  Every value is random and synthetic.

The labels are the (file, line) of each planted secret.  Caveat, said again in the table:
paneseal's rules were written by the same person as this generator, so its figures here are
an upper bound; docs/scan.md also reports what it finds on the real corpus.

    python3 bench/scan_corpus.py OUTDIR [--files 2000] [--seed 6]
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
from collections.abc import Callable
from pathlib import Path

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B32 = string.ascii_uppercase + "234567"
WORDS = ("sunset", "river", "falcon", "maple", "copper", "orbit", "velvet", "harbor", "cactus")


class Gen:
    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    def s(self, n: int, alphabet: str = ALNUM) -> str:
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def human(self) -> str:
        """A password a person would type: word, digits, maybe a symbol."""
        w = self.r.choice(WORDS)
        if self.r.random() < 0.5:
            w = w.capitalize()
        return w + self.s(self.r.randint(2, 4), string.digits) + self.r.choice(["", "!", "#", "_x"])

    def uuid(self) -> str:
        return (
            f"{self.s(8, HEX)}-{self.s(4, HEX)}-{self.s(4, HEX)}-{self.s(4, HEX)}-{self.s(12, HEX)}"
        )


# Each secret kind: (kind, maker) where maker returns (line text, value).
SecretMaker = Callable[[Gen], tuple[str, str]]


def _k(template: str, value: Callable[[Gen], str]) -> SecretMaker:
    def make(g: Gen) -> tuple[str, str]:
        v = value(g)
        return template.format(v=v, h=g.r.choice(["db", "10.0.3.7", "cache.internal"])), v

    return make


SECRETS: dict[str, SecretMaker] = {
    "aws-access-key-id": _k("export AWS_ACCESS_KEY_ID={v}", lambda g: "AKIA" + g.s(16, B32)),
    "aws-secret-access-key": _k(
        "aws configure set aws_secret_access_key {v}", lambda g: g.s(40, ALNUM + "/+")
    ),
    "github-token": _k("git clone https://{v}@github.com/acme/api.git", lambda g: "ghp_" + g.s(36)),
    "github-fine-grained": _k(
        "GH_TOKEN={v} gh pr status", lambda g: "github_pat_" + g.s(22) + "_" + g.s(59)
    ),
    "gitlab-token": _k(
        "curl --header 'PRIVATE-TOKEN: {v}' https://gitlab.example.com/api/v4/projects",
        lambda g: "glpat-" + g.s(20, ALNUM + "_-"),
    ),
    "slack-bot": _k(
        "SLACK_BOT={v} ./bin/notifier",
        lambda g: f"xoxb-{g.s(12, string.digits)}-{g.s(13, string.digits)}-{g.s(24)}",
    ),
    "slack-user": _k(
        "slack-cli --auth {v} status",
        lambda g: (
            f"xoxp-{g.s(11, string.digits)}-{g.s(11, string.digits)}-"
            f"{g.s(12, string.digits)}-{g.s(32, HEX)}"
        ),
    ),
    "slack-app": _k(
        "bolt run --app {v}",
        lambda g: f"xapp-1-A{g.s(10, B32)}-{g.s(13, string.digits)}-{g.s(64, HEX)}",
    ),
    "slack-webhook": _k(
        "curl -X POST -d @deploy.json {v}",
        lambda g: f"https://hooks.slack.com/services/T{g.s(8, B32)}/B{g.s(8, B32)}/{g.s(24)}",
    ),
    "stripe": _k(
        "stripe listen --api-key {v} --forward-to localhost:3000/hooks",
        lambda g: "sk_live_" + g.s(24),
    ),
    "google-api-key": _k("MAPS={v} yarn dev", lambda g: "AIza" + g.s(35, ALNUM + "_-")),
    "openai": _k("OPENAI={v} python chat.py", lambda g: "sk-proj-" + g.s(64, ALNUM + "_-")),
    "anthropic": _k("llm keys set claude --value {v}", lambda g: "sk-ant-api03-" + g.s(93) + "AA"),
    "npm": _k("echo //registry.npmjs.org/:_authToken={v} > .npmrc", lambda g: "npm_" + g.s(36)),
    "pypi": _k(
        "twine upload -u __token__ -p {v} dist/*", lambda g: "pypi-AgEIcHlwaS5vcmc" + g.s(70)
    ),
    "sendgrid": _k("SENDGRID={v} bundle exec sidekiq", lambda g: f"SG.{g.s(22)}.{g.s(43)}"),
    "twilio": _k("twilio login --api-key {v}", lambda g: "SK" + g.s(32, HEX)),
    "digitalocean": _k("doctl auth init -t {v}", lambda g: "dop_v1_" + g.s(64, HEX)),
    "heroku": _k("HEROKU_API_KEY={v} heroku logs --tail", lambda g: g.uuid()),
    "huggingface": _k(
        "huggingface-cli login --token {v}", lambda g: "hf_" + g.s(34, string.ascii_letters)
    ),
    "vault": _k(
        "VAULT_ADDR=https://vault:8200 bao login {v}", lambda g: "hvs." + g.s(90, ALNUM + "_-")
    ),
    "jwt": _k(
        "curl -b session={v} localhost:3000/admin",
        lambda g: f"eyJ{g.s(30)}.eyJ{g.s(60)}.{g.s(43, ALNUM + '_-')}",
    ),
    "bearer": _k(
        "curl -H 'Authorization: Bearer {v}' https://api.internal/v1/jobs", lambda g: g.s(40)
    ),
    "basic": _k('curl -H "Authorization: Basic {v}" http://{h}:9200', lambda g: g.s(28) + "=="),
    "pgpassword": _k("PGPASSWORD={v} psql -h {h} -U app app_dev", Gen.human),
    "mysql-pwd": _k("MYSQL_PWD={v} mysql -h {h} -u app", Gen.human),
    "mysql-p": _k("mysql -h {h} -u app -p{v} app_dev", Gen.human),
    "mongo-p": _k("mongosh --host {h} -u admin -p {v} --authenticationDatabase admin", Gen.human),
    "redis-a": _k("redis-cli -h {h} -a {v} monitor", Gen.human),
    "sshpass": _k("sshpass -p {v} ssh deploy@{h}", Gen.human),
    "password-flag": _k("./bin/console --user admin --password={v}", Gen.human),
    "token-flag": _k("cloudflared tunnel run --token {v} web", lambda g: g.s(48)),
    "secret-flag": _k(
        "java -jar agent.jar -jnlpUrl http://ci:8080/computer/a/slave-agent.jnlp -secret {v}",
        lambda g: g.s(64, HEX),
    ),
    "authtoken": _k("ngrok http -authtoken {v} 3000", lambda g: g.s(20, ALNUM + "_")),
    "export-token": _k("export DEPLOY_TOKEN={v}", lambda g: g.s(32)),
    "env-password": _k("env ADMIN_PASSWORD={v} bundle exec rails s", Gen.human),
    "docker-env": _k("docker run -d -e POSTGRES_PASSWORD={v} -p 5432:5432 postgres:16", Gen.human),
    "url-userinfo": _k("pgcli postgres://app:{v}@{h}:5432/app_dev", Gen.human),
    "curl-user": _k("curl -u admin:{v} http://{h}:15672/api/queues", Gen.human),
    "erb-fetch": _k("rails s -b 0.0.0.0 <%= ENV.fetch('API_SECRET', '{v}') %>", Gen.human),
    "erb-or": _k("psql -W <%= ENV['DB_PASSWORD'] || '{v}' %>", Gen.human),
    "generic-entropy": _k("# service_api_key: {v}", lambda g: g.s(32)),
    "dev-default-mysql": _k("mysql -uroot -proot app_dev", lambda g: "root"),
    "dev-default-pg": _k("PGPASSWORD=postgres psql -h localhost -U postgres", lambda g: "postgres"),
}

DECOYS: list[Callable[[Gen], str]] = [
    lambda g: "PGPASSWORD=$PGPASSWORD psql -h db -U app",
    lambda g: "export GITHUB_TOKEN=$(pass show github/token)",
    lambda g: "export API_TOKEN=${API_TOKEN:?set it}",
    lambda g: "mysql -u root -p",
    lambda g: "mysql -u root -p app_dev",  # mysql reads app_dev as a database: a hard decoy
    lambda g: "grep -rn password config/ | less",
    lambda g: "export SORT_KEY=created_at PRIMARY_KEY=id",
    lambda g: f"export GPG_KEY={g.s(16, HEX).upper()}",
    lambda g: 'ssh-keygen -t ed25519 -C "deploy key" -f ~/.ssh/deploy',
    lambda g: "export HOTKEY=F12",
    lambda g: "docker run -p 8080:80 -p 5432:5432 nginx",
    lambda g: "rails s -p <%= ENV.fetch('PORT', '3000') %>",
    lambda g: "psql <%= ENV['DATABASE_URL'] %>",
    lambda g: f"git checkout {g.s(40, HEX)}",
    lambda g: f"open https://github.com/acme/api/commit/{g.s(40, HEX)}",
    lambda g: f"curl -LO https://dl.example.com/tool.tgz#sha256={g.s(64, HEX)}",
    lambda g: f"docker pull registry.local/app@sha256:{g.s(64, HEX)}",
    lambda g: f"kubectl logs -f job/migrate-{g.uuid()}",
    lambda g: f"export REQUEST_ID={g.uuid()}",
    lambda g: "export DB_PASSWORD=store://db_password",
    lambda g: "cli --token vault://secret/app#token",
    lambda g: "mssql-cli -U {username} -P {password}",
    lambda g: "export OPENAI_API_KEY=YOUR_API_KEY",
    lambda g: "cli login --token your-token-here",
    lambda g: "redis-cli -a *** ping",
    lambda g: "export API_KEY=xxxxxxxxxxxxxxxx",
    lambda g: "docker login --password-stdin < ~/.docker-pass",
    lambda g: "psql --no-password app_dev",
    lambda g: "vault login -method=oidc",
    lambda g: "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
    lambda g: "export STRIPE_PUBLISHABLE_KEY=pk_test_" + g.s(24),
    lambda g: "jupyter lab --NotebookApp.token='' --port 8888",
    lambda g: "pgcli postgres://app@localhost:5432/app_dev",
    lambda g: "curl http://localhost:8080/api/health",
    lambda g: "ssh -i ~/.ssh/id_ed25519 deploy@10.0.3.7",
    lambda g: "export SSH_KEY_PATH=~/.ssh/id_rsa",
    lambda g: "export TLS_KEY=/etc/ssl/private/app.key",
    lambda g: f"webpack --env build_id={g.s(20, HEX)}",
    lambda g: f"echo {g.s(44, ALNUM + '+/')}= | base64 -d > logo.png",
    lambda g: f"npm install lodash@4.17.21 --integrity sha512-{g.s(40, ALNUM + '+/')}",
    lambda g: "sshpass -e ssh deploy@10.0.3.7",
    lambda g: "openssl enc -aes-256-cbc -pass env:BACKUP_PASS -in dump.sql",
    lambda g: "gpg --decrypt secrets.env.gpg | source /dev/stdin",
    lambda g: "api_key_name: billing-service",
    lambda g: f"tmux set -g @token_color '{g.r.choice(['#ff0000', 'colour33'])}'",
    lambda g: "echo tokenizer && python -m tokenize file.py",
]

FILLER = [
    "cd ~/code/{p}",
    "git pull --rebase",
    "bundle exec rails s -p 3000",
    "bundle exec sidekiq -C config/sidekiq.yml",
    "yarn dev --host 0.0.0.0",
    "npm run watch",
    "tail -f log/development.log",
    "docker compose up -d postgres redis",
    "docker compose logs -f --tail=100 web",
    "htop",
    "vim .",
    "nvim -c 'Telescope find_files'",
    "ssh deploy@staging-{p}.internal",
    "kubectl -n {p} get pods -w",
    "make test",
    "pytest -x -q tests/",
    "go run ./cmd/{p}",
    "cargo watch -x test",
    "watch -n 5 'df -h /'",
    "tig",
    "lazygit",
    "python -m http.server 8000",
    "mix phx.server",
    "ngrok http 3000",
]

HEADER = """\
# /home/dev/.config/tmuxinator/{p}.yml

name: {p}
root: ~/code/{p}

# Optional tmux socket
# socket_name: foo

# Note that the pre and post options have been deprecated and will be replaced by
# project hooks.

# Project hooks

# Runs on project start, always
# on_project_start: command

# Run on project start, the first time
# on_project_first_start: command

# Run on project start, after the first time
# on_project_restart: command

# Run on project exit ( detaching from tmux session )
# on_project_exit: command

# Run on project stop
# on_project_stop: command

# Runs in each window and pane before window/pane specific commands. Useful for setting up
# interpreter versions.
pre_window:
  - cd ~/code/{p}
  - {pre}

# Pass command line options to tmux. Useful for specifying a different tmux.conf.
# tmux_options: -f ~/.tmux.mac.conf

# Change the command to call tmux.  This can be used by derivatives/wrappers like byobu.
# tmux_command: byobu

# Specifies (by name or index) which window will be selected on project startup. If not set,
# the first window is used.
# startup_window: editor

# Specifies (by index) which pane of the specified window will be selected on project
# startup. If not set, the first pane is used.
# startup_pane: 1

# Controls whether the tmux session should be attached to automatically. Defaults to true.
# attach: false

windows:
"""


def _yaml_item(line: str, indent: str) -> str:
    """A pane list item; quote it when plain YAML would misread it."""
    if line.startswith(("#", "*", "&", "!", "%", "@", "`", "{", "[", "'", '"')) or ": " in line:
        return f"{indent}- {json.dumps(line)}"
    return f"{indent}- {line}"


def make_file(
    g: Gen, index: int, secrets: list[str], decoys: int
) -> tuple[str, list[tuple[int, str, str]]]:
    """One project; returns its text and labels (line, kind, value)."""
    p = f"proj{index}"
    lines = HEADER.format(
        p=p, pre=g.r.choice(["rbenv shell 3.2.2", "nvm use 20", "source .venv/bin/activate"])
    ).splitlines()
    labels: list[tuple[int, str, str]] = []
    items: list[tuple[str | None, str, str]] = []  # (kind, line, value)
    for kind in secrets:
        line, value = SECRETS[kind](g)
        items.append((kind, line, value))
    for _ in range(decoys):
        items.append((None, g.r.choice(DECOYS)(g), ""))
    g.r.shuffle(items)
    window = 0
    target = g.r.randint(8_500, 11_500)
    pos = 0
    while pos < len(items) or sum(len(x) + 1 for x in lines) < target:
        if g.r.random() < 0.3:
            # a one-command window: ``- name: command`` (a YAML key: value pair)
            if pos < len(items) and g.r.random() < 0.5:
                kind, line, value = items[pos]
                pos += 1
                lines.append(_yaml_item(line, "  ").replace("- ", f"- w{window}: ", 1))
                if kind is not None:
                    labels.append((len(lines), kind, value))
            else:
                lines.append(f"  - w{window}: " + g.r.choice(FILLER).format(p=p))
            window += 1
            continue
        lines.append(f"  - w{window}:")
        lines.append(f"      layout: {g.r.choice(['main-vertical', 'tiled', 'even-horizontal'])}")
        lines.append("      panes:")
        for _ in range(g.r.randint(2, 5)):
            style = g.r.random()
            if pos < len(items) and g.r.random() < 0.5:
                kind, line, value = items[pos]
                pos += 1
                if kind == "generic-entropy" or (style < 0.1 and kind is not None):
                    # in a comment
                    text = line if line.startswith("#") else "# " + line
                    lines.append(f"        {text}")
                    lineno = len(lines)
                elif style < 0.25:
                    lines.append("        - |")
                    lines.append(f"          echo starting {p}")
                    lines.append(f"          {line}")
                    lineno = len(lines)
                else:
                    lines.append(_yaml_item(line, "        "))
                    lineno = len(lines)
                if kind is not None:
                    labels.append((lineno, kind, value))
            else:
                lines.append(_yaml_item(g.r.choice(FILLER).format(p=p), "        "))
        window += 1
    # one private key in a block scalar now and then is planted by the caller via kind
    return "\n".join(lines) + "\n", labels


def private_key_file(g: Gen, index: int) -> tuple[str, list[tuple[int, str, str]]]:
    text, labels = make_file(g, index, [], 2)
    body = "\n".join("    " + g.s(64, ALNUM + "+/") for _ in range(6))
    block = (
        "  - keys:\n      - |\n        cat > /tmp/deploy_key <<'EOF'\n"
        f"        -----BEGIN OPENSSH PRIVATE KEY-----\n{body.replace('    ', '        ')}\n"
        "        -----END OPENSSH PRIVATE KEY-----\n        EOF\n"
    )
    start_line = text.count("\n") + 4
    return text + block, [*labels, (start_line, "private-key", "")]


def generate(out: Path, files: int, seed: int) -> dict[str, object]:
    g = Gen(random.Random(seed))
    out.mkdir(parents=True, exist_ok=True)
    kinds = list(SECRETS)
    labels: dict[str, list[tuple[int, str, str]]] = {}
    plan: list[list[str]] = [[] for _ in range(files)]
    per_kind = max(1, (files // 2) // len(kinds))  # about one secret per two files
    for kind in kinds:
        for _ in range(per_kind):
            plan[g.r.randrange(files)].append(kind)
    pk_files = set(g.r.sample(range(files), max(1, files // 100)))
    total = 0
    for i in range(files):
        if i in pk_files:
            text, lab = private_key_file(g, i)
        else:
            text, lab = make_file(g, i, plan[i], g.r.randint(1, 3))
        name = f"p{i:05d}.yml"
        (out / name).write_text(text)
        labels[name] = lab
        total += len(text.encode())
    (out.parent / f"{out.name}.labels.json").write_text(json.dumps(labels))
    return {"files": files, "bytes": total, "labels": labels}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=6)
    args = ap.parse_args()
    info = generate(args.out, args.files, args.seed)
    n = sum(len(v) for v in info["labels"].values())  # type: ignore[union-attr]
    print(f"{info['files']} files, {info['bytes'] / 1e6:.1f} MB, {n} planted secrets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
