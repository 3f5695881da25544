"""Table tests per rule: (text, rule that must fire or None, expected value)."""

from __future__ import annotations

import random
import string
from collections.abc import Sequence

import pytest

from paneseal.scan.rules import RULES, RULES_BY_ID, is_placeholder
from paneseal.scan.scanner import mask, scan_text

SALT = b"test-salt"
_rng = random.Random(6)


def rnd(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


HEX = "0123456789abcdef"
B32 = string.ascii_uppercase + "234567"

# (id, text, rule, secret) -- the secret is what must be reported, at its exact column.
POSITIVE: list[tuple[str, str, str | None, str]] = [
    ("aws-key-id", "export AWS_ACCESS_KEY_ID={v}", "aws-access-key-id", "AKIA" + rnd(16, B32)),
    (
        "aws-secret",
        "export AWS_SECRET_ACCESS_KEY={v}",
        "aws-secret-access-key",
        rnd(30) + "/" + rnd(9),
    ),
    (
        "aws-secret-configure",
        "aws configure set aws_secret_access_key {v}",
        "aws-secret-access-key",
        rnd(40),
    ),
    ("github-classic", "git clone https://{v}@github.com/o/r", "github-token", "ghp_" + rnd(36)),
    ("github-app", "GH={v} gh pr list", "github-token", "ghs_" + rnd(36)),
    (
        "github-fine",
        "gh auth login --with-token <<< {v}",
        "github-fine-grained-token",
        "github_pat_" + rnd(22) + "_" + rnd(59),
    ),
    ("gitlab", "curl -H 'PRIVATE-TOKEN: {v}' x", "gitlab-token", "glpat-" + rnd(20)),
    (
        "slack-bot",
        "notify --to {v}",
        "slack-token",
        "xoxb-" + rnd(12, "0123456789") + "-" + rnd(12, "0123456789") + "-" + rnd(24),
    ),
    (
        "slack-user",
        "notify {v}",
        "slack-token",
        "xoxp-" + rnd(11, "0123456789") + "-" + rnd(11, "0123456789") + "-" + rnd(32, HEX),
    ),
    (
        "slack-app",
        "bolt {v}",
        "slack-token",
        "xapp-1-A" + rnd(10, B32) + "-" + rnd(13, "0123456789") + "-" + rnd(64, HEX),
    ),
    (
        "slack-webhook",
        "curl -X POST {v} -d @msg.json",
        "slack-webhook",
        "https://hooks.slack.com/services/T" + rnd(8, B32) + "/B" + rnd(8, B32) + "/" + rnd(24),
    ),
    ("stripe-live", "stripe listen --api-key {v}", "stripe-key", "sk_live_" + rnd(24)),
    ("stripe-restricted", "STRIPE={v} rails s", "stripe-key", "rk_test_" + rnd(24)),
    ("google", "maps --key={v}", "google-api-key", "AIza" + rnd(35)),
    (
        "openai",
        "llm -m gpt --apikey {v}",
        "openai-key",
        "sk-proj-" + rnd(60),
    ),
    (
        "openai-legacy",
        "chat {v}",
        "openai-key",
        "sk-" + rnd(20) + "T3BlbkFJ" + rnd(20),
    ),
    ("anthropic", "claude {v}", "anthropic-key", "sk-ant-api03-" + rnd(93) + "AA"),
    ("npm", "echo {v} | npm login", "npm-token", "npm_" + rnd(36)),
    ("npmrc", "echo //registry.npmjs.org/:_authToken={v} > .npmrc", "npm-token", rnd(36)),
    ("pypi", "twine upload -p {v} dist/*", "pypi-token", "pypi-AgEIcHlwaS5vcmc" + rnd(60)),
    ("sendgrid", "mailer {v}", "sendgrid-key", "SG." + rnd(22) + "." + rnd(43)),
    ("twilio", "twilio login {v}", "twilio-key", "SK" + rnd(32, HEX)),
    ("digitalocean", "doctl auth init -t {v}", "digitalocean-token", "dop_v1_" + rnd(64, HEX)),
    ("heroku-new", "heroku login {v}", "heroku-key", "HRKU-" + rnd(60)),
    (
        "heroku-uuid",
        "HEROKU_API_KEY={v} heroku ps",
        "heroku-key",
        f"{rnd(8, HEX)}-{rnd(4, HEX)}-{rnd(4, HEX)}-{rnd(4, HEX)}-{rnd(12, HEX)}",
    ),
    (
        "huggingface",
        "hf download --tok {v}",
        "huggingface-token",
        "hf_" + rnd(34, string.ascii_letters),
    ),
    ("vault", "bao login {v}", "vault-token", "hvs." + rnd(90)),
    (
        "jwt",
        "curl -b session={v} x",
        "jwt",
        "eyJ" + rnd(20) + ".eyJ" + rnd(40) + "." + rnd(43),
    ),
    ("bearer", "curl -H 'Authorization: Bearer {v}' api", "http-auth-header", rnd(30)),
    ("basic", 'curl -H "Authorization: Basic {v}" api', "http-auth-header", rnd(20) + "=="),
    ("pgpassword", "PGPASSWORD={v} psql -h db", "pgpassword", "Tr0ub4dor!3x"),
    ("pgpassword-quoted", "PGPASSWORD='{v}' psql", "pgpassword", "long horse battery"),
    ("mysql-pwd", "MYSQL_PWD={v} mysql -u app", "mysql-pwd", "k9Vw2pQz"),
    ("mysql-attached", "mysql -u app -p{v} appdb", "mysql-password", "k9Vw2pQz"),
    ("mysql-spaced", "mysql -u app -p {v}", "mysql-password", "k9Vw2pQz"),
    ("mysqldump", "mysqldump -uroot -p{v} db > x.sql", "mysql-password", "Zx81qq7w"),
    ("mongo", "mongo admin -u admin -p {v}", "mongo-password", "Xuxr9284"),
    ("mongosh", "mongosh --host db -u root -p {v}", "mongo-password", "Xuxr9284"),
    ("redis", "redis-cli -h cache -a {v} ping", "redis-cli-password", "r3d1sPw"),
    ("sshpass", "sshpass -p {v} ssh root@host", "sshpass-password", "p4ssw0rdZ"),
    ("sshpass-attached", "sshpass -p{v} ssh root@host", "sshpass-password", "p4ssw0rdZ"),
    ("password-eq", "app --password={v}", "password-flag", "hnmvpen7"),
    ("password-space", "ssh 10.0.0.1 --password {v}", "password-flag", "hnmvpen7"),
    ("token-flag", "cli --token {v}", "password-flag", "abcDEF12345"),
    ("dotted-flag", "jupyter lab --NotebookApp.token={v}", "password-flag", "a8f3k2m1z"),
    ("secret-flag", "java -jar agent.jar -secret {v}", "password-flag", rnd(64, HEX)),
    ("authtoken", "ngrok -authtoken {v} 3000", "password-flag", rnd(20)),
    ("export-token", "export API_TOKEN={v}", "shell-secret-assignment", "t0k3nV4lue"),
    ("export-secret", "export APP_SECRET='{v}'", "shell-secret-assignment", "s3cr3t value"),
    ("env-prefix", "env DB_PASSWORD={v} rails s", "shell-secret-assignment", "pw4Rails!"),
    ("bare-assign", "DB_PASS={v} ./run", "shell-secret-assignment", "pw4Rails!"),
    ("fish-set", "set -gx OPENAPI_KEY {v}", None, ""),  # fish syntax: no '=' (documented gap)
    ("docker-e", "docker run -e POSTGRES_PASSWORD={v} postgres", "docker-env", "pgPw7781"),
    ("docker-env", "docker run --env API_KEY={v} app", "docker-env", "k3yV4lue9"),
    ("url-pg", "pgcli postgres://app:{v}@localhost:5432/app", "url-userinfo", "fluxpm_test"),
    ("url-redis", "redis-cli -u redis://:{v}@cache:6379", "url-userinfo", "r3disPw9"),
    ("curl-u", "curl -u admin:{v} https://x", "curl-user", "curlPw42x"),
    (
        "erb-fetch",
        "- psql <%= ENV.fetch('DB_PASSWORD', '{v}') %>",
        "erb-env-default",
        "erbDefault9",
    ),
    (
        "erb-fetch-block",
        '- psql <%= ENV.fetch("API_TOKEN") {{ "{v}" }} %>',
        "erb-env-default",
        "erbDefault9",
    ),
    ("erb-or", "- x <%= ENV['SECRET_KEY'] || '{v}' %>", "erb-env-default", "erbDefault9"),
    (
        "generic",
        "service_auth_key: {v}",
        "generic-high-entropy",
        "q8Zr2LmX9vKp4TnW7sYb",
    ),
    (
        "private-key",
        "- |\n  cat > k <<EOF\n  {v}\n  EOF",
        "private-key",
        "-----BEGIN OPENSSH PRIVATE KEY-----\n  "
        + rnd(60)
        + "\n  -----END OPENSSH PRIVATE KEY-----",
    ),
]

# Dev defaults are findings, at severity low.
DEV_DEFAULTS = [
    ("mysql-root", "mysql -uroot -proot", "mysql-password"),
    ("pg-postgres", "PGPASSWORD=postgres psql", "pgpassword"),
    ("docker-admin", "docker run -e KEYCLOAK_PASSWORD=admin kc", "docker-env"),
    ("url-postgres", "psql postgres://postgres:postgres@localhost/db", "url-userinfo"),
    ("changeme", "register --username admin --password changeme", "password-flag"),
]

NEGATIVE = [
    ("dollar-var", "PGPASSWORD=$PGPASS psql"),
    ("braced-var", "PGPASSWORD=${DB_PASSWORD} psql"),
    ("quoted-var", 'export API_TOKEN="${API_TOKEN}"'),
    ("cmd-subst", "export GITHUB_TOKEN=$(pass show github)"),
    ("backticks", "export GITHUB_TOKEN=`pass show github`"),
    ("erb-value", "PGPASSWORD=<%= ENV['PG'] %> psql"),
    ("erb-quoted", "PGPASSWORD='<%= ENV[\"PG\"] %>' psql"),
    ("braces", "mssql-cli -U {username} -P {password}"),
    ("angle", "mysql -u app -p<password>"),
    ("stars", "redis-cli -a *** ping"),
    ("xxx", "export API_KEY=xxxxxxxx"),
    ("your-token", "cli --token your-token-here"),
    ("your-key", "export OPENAI_API_KEY=YOUR_API_KEY"),
    ("store-ref", "export DB_PASSWORD=store://db_password"),
    ("vault-ref", "cli --token vault://secret/app#token"),
    ("empty-token", "jupyter lab --NotebookApp.token=''"),
    ("empty-pg", "PGPASSWORD= psql"),
    ("prompt-mysql", "mysql -u root -p"),
    ("mysql-port", "mysql -u root -P 3306 -h db"),
    ("mysql-database", "mysql -u root -p app_dev"),
    ("password-stdin", "docker login --password-stdin < pw.txt"),
    ("no-password", "psql --no-password mydb"),
    ("token-file", "vault login --token-file /run/token"),
    ("password-file", "app --password /run/secrets/db"),
    ("openssl-env", "openssl enc -pass env:PASSPHRASE -in f"),
    ("sshpass-env", "sshpass -e ssh host"),
    ("uuid", "docker run --name 3f2b8c1e-4d5a-4e6f-9a0b-1c2d3e4f5a6b app"),
    ("uuid-assign", "request_id=3f2b8c1e-4d5a-4e6f-9a0b-1c2d3e4f5a6b"),
    ("git-sha", "git checkout 7089beaec09a5b83136607dac6ead2e359845308"),
    ("sha-assign", "commit_token_sha: 7089beaec09a5b83136607dac6ead2e359845308"),
    ("url-hash", "open https://github.com/o/r/commit/7089beaec09a5b83136607dac6ead2e359845308"),
    ("url-sha256", "curl -O https://x.org/f.tgz#sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"),
    ("url-no-password", "psql postgres://app@localhost:5432/app"),
    ("url-port", "curl http://localhost:8080/api"),
    ("url-var", "psql postgres://app:$PGPASSWORD@localhost/app"),
    ("ssh-url", "git clone ssh://git@github.com:22/o/r"),
    ("public-key", "export SSH_PUBLIC_KEY=ssh-ed25519AAAAC3Nz"),
    ("key-path", "export TLS_KEY=/etc/ssl/private/app.key"),
    ("pk-stripe", "export STRIPE_PUBLISHABLE_KEY=pk_live_" + "a" * 24),
    ("aws-example", "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE"),
    ("word-token", "echo tokenizer"),
    ("low-entropy", "api_key_name: my-service-name"),
    ("generic-digits", "auth_port: 12345678901234567890"),
    ("erb-fetch-port", "rails s -p <%= ENV.fetch('PORT', '3000') %>"),
    ("upper-word", "mysql -u app -pSECRET db"),
    ("name-eq-ref", "paneseal run --secret DB_PASSWORD=store://db -- psql"),
    ("name-eq-name", "connect(host, token=token)"),
    ("plain-yaml", "name: myproject\nroot: ~/code/app\nwindows:\n  - editor: vim"),
]


def _ids(rows: Sequence[tuple[object, ...]]) -> list[str]:
    return [str(r[0]) for r in rows]


@pytest.mark.parametrize(("case", "template", "rule", "secret"), POSITIVE, ids=_ids(POSITIVE))
def test_rule_fires_at_exact_column(
    case: str, template: str, rule: str | None, secret: str
) -> None:
    text = template.format(v=secret)
    findings = scan_text(text, "p.yml", SALT)
    if rule is None:
        assert findings == []
        return
    assert [f.rule for f in findings] == [rule], findings
    f = findings[0]
    assert text[f.start : f.end] == secret
    offset = text.index(secret)
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    assert (f.line, f.column) == (line, column)
    assert f.masked == mask(secret)
    assert secret not in repr(f)
    assert secret not in f.masked


def test_every_rule_has_a_positive_case() -> None:
    covered = {row[2] for row in POSITIVE}
    assert covered >= set(RULES_BY_ID), set(RULES_BY_ID) - covered


@pytest.mark.parametrize(("case", "text", "rule"), DEV_DEFAULTS, ids=_ids(DEV_DEFAULTS))
def test_dev_defaults_are_low_severity_findings(case: str, text: str, rule: str) -> None:
    findings = scan_text(text, "p.yml", SALT)
    assert [(f.rule, f.severity) for f in findings] == [(rule, "low")]


@pytest.mark.parametrize(("case", "text"), NEGATIVE, ids=_ids(NEGATIVE))
def test_placeholders_and_references_do_not_fire(case: str, text: str) -> None:
    assert scan_text(text, "p.yml", SALT) == []


@pytest.mark.parametrize(
    "value",
    [
        "$X",
        "${X}",
        "$(cmd)",
        "<%= x %>",
        "{password}",
        "<password>",
        "***",
        "xxx",
        "your-token-here",
    ],
)
def test_is_placeholder(value: str) -> None:
    assert is_placeholder(value)


def test_rules_are_declarative_with_keywords() -> None:
    for rule in RULES:
        assert rule.keywords, rule.id
        assert all(k == k.lower() for k in rule.keywords), rule.id
        assert rule.value_groups, rule.id


def test_fingerprint_ignores_line_numbers_and_depends_on_salt() -> None:
    a = scan_text("x: 1\n- PGPASSWORD=Zq81kkw psql\n", "p.yml", SALT)
    b = scan_text("\n\n\n# moved\n  - PGPASSWORD=Zq81kkw psql\n", "q.yml", SALT)
    c = scan_text("- PGPASSWORD=Zq81kkw psql\n", "p.yml", b"other")
    assert a[0].line != b[0].line
    assert a[0].fingerprint == b[0].fingerprint
    assert a[0].fingerprint != c[0].fingerprint


def test_inline_allow_comment() -> None:
    text = "- PGPASSWORD=Zq81kkw psql  # paneseal:allow\n- PGPASSWORD=Zq81kkw psql\n"
    findings = scan_text(text, "p.yml", SALT)
    assert [f.line for f in findings] == [2]


def test_overlapping_rules_report_once() -> None:
    token = "ghp_" + rnd(36)
    findings = scan_text(f"export GITHUB_TOKEN={token}\n", "p.yml", SALT)
    assert [f.rule for f in findings] == ["github-token"]
