"""The rule table: each rule is a few declarative lines.

A rule has keywords (a cheap substring prefilter: the regular expression runs only on text
that holds one of them), one regular expression whose group ``v`` (or ``v1``, ``v2`` ...)
is the secret, a severity, and the environment variable name ``migrate`` gives the value
when the match does not name one itself (group ``name``).  Placeholders and references are
never findings; well-known development defaults are findings at severity ``low``.

Order matters: when two rules claim overlapping text, the one listed first wins, so the
precise vendor formats come before the shell-context rules, and the generic entropy rule
comes last.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

HIGH = "high"
MEDIUM = "medium"
LOW = "low"
SEVERITIES = (HIGH, MEDIUM, LOW)

# A shell word: single-quoted, double-quoted or bare.  Each alternative has its own group.
_SQ = r"'(?P<v1>[^'\n]*)'"
_DQ = r'"(?P<v2>[^"\n]*)"'
_BARE = r"(?P<v3>[^\s'\"`;|&<>(),\]}]+)"
WORD = f"(?:{_SQ}|{_DQ}|{_BARE})"

# Names of variables that hold credentials (PGPASSWORD, MYSQL_PWD, GITHUB_TOKEN, API_KEY ...).
CRED_VAR = (
    r"(?P<name>[A-Za-z0-9_]*?"
    r"(?:PASSWORD|PASSWD|_PASS|_PWD|SECRET|TOKEN|_KEY|APIKEY|ACCESSKEY|CREDENTIALS?"
    r"|password|passwd|_pass|_pwd|secret|token|_key|apikey))"
)
_NOT_CRED_VARS = re.compile(
    r"(?:PUBLIC|PUB|SSH|SORT|PRIMARY|FOREIGN|PARTITION|HOT|CACHE|IDEMPOTENCY|LICENSE|GPG"
    r"|SIGNING|PUBLISHABLE)_?KEY$|_KEY_(?:ID|FILE|PATH)$|(?:FILE|PATH)$",
    re.IGNORECASE,
)

_PANESEAL_SCHEMES = (
    "store",
    "env",
    "exec",
    "vault",
    "aws-sm",
    "ssm",
    "pass",
    "keyring",
    "op",
    "bw",
)
_PLACEHOLDER = re.compile(
    r"""
    ^\$                                  # $VAR ${VAR} $(cmd) $$
    | <%|%>                              # ERB
    | ^\{ | ^<.*>$ | ^\[.*\]$            # {password} {{ .pw }} <password> [token]
    | (?-i:^[A-Z_]+(?:=[A-Z_]*)?$)       # SECRET, NAME=REF: upper-case words stand for values
    | ^%                                 # %s %(x)s %PASSWORD%
    | ^[*xX.#?_-]+$                      # *** xxx ... ???
    | ^(?:your|my|the|insert|enter|replace|put)[-_ ]?(?:own[-_])?[a-z_-]*$
    | (?:^|[-_])(?:here|placeholder|redacted|example|dummy|sample|fake)(?:$|[-_])
    | ^(?:none|null|nil|undefined|true|false|empty|prompt|stdin|required|optional)$
    | ^(?:~|\.{1,2})?/                   # a path, e.g. --password-file style values
    | ^-                                 # another option, not a value
    | ^(?:env|file|fd):                  # openssl-style indirection
    | (?-i:^[A-Z_][A-Z0-9_]*=\S*$)       # NAME=REF: an assignment handed on (--secret, -e)
    """,
    re.IGNORECASE | re.VERBOSE,
)
_REFERENCE = re.compile(r"(?:^|=)(?:" + "|".join(re.escape(s) for s in _PANESEAL_SCHEMES) + r")://")
_EXAMPLE_TOKEN = re.compile(r"EXAMPLE|XXXXXXXX|0000000000|1234567890abcdef", re.IGNORECASE)

# Development defaults: still credentials (report them), but a lower severity.
DEV_DEFAULTS = frozenset(
    {
        "password",
        "passw0rd",
        "postgres",
        "postgresql",
        "root",
        "toor",
        "admin",
        "administrator",
        "secret",
        "test",
        "testing",
        "changeme",
        "changeit",
        "pass",
        "dev",
        "development",
        "guest",
        "mysql",
        "redis",
        "mongo",
        "mongodb",
        "default",
        "letmein",
        "qwerty",
        "user",
        "demo",
        "local",
        "docker",
        "123456",
        "12345678",
        "1234",
        "rabbitmq",
        "minio",
        "minioadmin",
        "sa",
        "oracle",
        "welcome",
        "keycloak",
    }
)


def is_placeholder(value: str) -> bool:
    """A reference to a value kept elsewhere, or an obvious stand-in: never a finding."""
    v = value.strip().strip("'\"\\")
    if len(v) < 3:
        return True
    return bool(_REFERENCE.match(v) or _PLACEHOLDER.search(v))


def is_dev_default(value: str) -> bool:
    low = value.lower()
    return low in DEV_DEFAULTS or (low.rstrip("0123456789!") in DEV_DEFAULTS and len(low) < 12)


def shannon_entropy(value: str) -> float:
    counts: dict[str, int] = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX_DIGEST = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64}|[0-9a-f]{32})$")


def looks_random(value: str) -> bool:
    """The generic rule's filter: long, mixed and high-entropy, and not a UUID or a digest."""
    if len(value) < 16 or _UUID.match(value) or _HEX_DIGEST.match(value):
        return False
    if value.isdigit() or value.isalpha() or _EXAMPLE_TOKEN.search(value):
        return False
    return shannon_entropy(value) >= 3.5


def not_example_token(value: str) -> bool:
    return not _EXAMPLE_TOKEN.search(value)


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    severity: str
    pattern: str
    keywords: tuple[str, ...] = ()  # matched against the lower-cased text
    env_name: str = "SECRET"  # migrate's variable name when the match names none
    flags: int = 0
    check: Callable[[str], bool] | None = None  # extra filter on the value
    placeholders: bool = True  # apply is_placeholder / is_dev_default
    multiline: bool = False
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)
    value_groups: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.compile(self.pattern, self.flags | re.MULTILINE)
        object.__setattr__(self, "regex", regex)
        groups = tuple(g for g in regex.groupindex if re.fullmatch(r"v\d*", g))
        object.__setattr__(self, "value_groups", groups)


_B = r"(?<![A-Za-z0-9_])"  # a token starts here
_E = r"(?![A-Za-z0-9_])"  # and ends here

RULES: tuple[Rule, ...] = (
    # ---------------------------------------------------------------- vendor formats
    Rule(
        "private-key",
        "private key block (PEM / OpenSSH)",
        HIGH,
        r"(?P<v>-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
        r"[\s\S]{16,}?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)",
        ("private key",),
        "PRIVATE_KEY",
        placeholders=False,
        multiline=True,
    ),
    Rule(
        "aws-access-key-id",
        "AWS access key id",
        HIGH,
        _B + r"(?P<v>(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16})" + _E,
        ("akia", "asia", "abia", "acca", "a3t"),
        "AWS_ACCESS_KEY_ID",
        check=not_example_token,
        placeholders=False,
    ),
    Rule(
        "aws-secret-access-key",
        "AWS secret access key",
        HIGH,
        r"(?i:aws_?secret_?(?:access_?)?key|secret_?access_?key)[\"']?(?:[ \t]*[=:][ \t]*|[ \t]+)"
        r"[\"']?"
        r"(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
        ("secret_access_key", "secretaccesskey", "aws_secret", "awssecret", "secret_key"),
        "AWS_SECRET_ACCESS_KEY",
        check=not_example_token,
        placeholders=False,
    ),
    Rule(
        "github-token",
        "GitHub token (classic, OAuth, app)",
        HIGH,
        _B + r"(?P<v>gh[pousr]_[A-Za-z0-9]{36,255})" + _E,
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        "GITHUB_TOKEN",
        placeholders=False,
    ),
    Rule(
        "github-fine-grained-token",
        "GitHub fine-grained personal access token",
        HIGH,
        _B + r"(?P<v>github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})" + _E,
        ("github_pat_",),
        "GITHUB_TOKEN",
        placeholders=False,
    ),
    Rule(
        "gitlab-token",
        "GitLab token",
        HIGH,
        _B
        + r"(?P<v>gl(?:pat|ptt|dt|rt|oas|cbt|ft|imt|agent)-[A-Za-z0-9_-]{20,64})(?![A-Za-z0-9_-])",
        ("glpat-", "glptt-", "gldt-", "glrt-", "gloas-", "glcbt-", "glft-", "glimt-", "glagent-"),
        "GITLAB_TOKEN",
        placeholders=False,
    ),
    Rule(
        "slack-webhook",
        "Slack incoming webhook URL",
        HIGH,
        r"(?P<v>https://hooks\.slack\.com/(?:services|workflows|triggers)/"
        r"[A-Za-z0-9_]{6,}/[A-Za-z0-9_]{6,}/[A-Za-z0-9_]{16,})",
        ("hooks.slack.com",),
        "SLACK_WEBHOOK_URL",
        placeholders=False,
    ),
    Rule(
        "slack-token",
        "Slack token (bot, user, app, configuration)",
        HIGH,
        _B + r"(?P<v>(?:xox[baprse]|xapp)-[0-9A-Za-z]{1,20}-[0-9A-Za-z-]{10,250})"
        r"(?![A-Za-z0-9_-])",
        ("xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-", "xapp-"),
        "SLACK_TOKEN",
        placeholders=False,
    ),
    Rule(
        "stripe-key",
        "Stripe secret or restricted key",
        HIGH,
        _B + r"(?P<v>(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{20,247})" + _E,
        ("sk_live_", "sk_test_", "rk_live_", "rk_test_"),
        "STRIPE_SECRET_KEY",
        placeholders=False,
    ),
    Rule(
        "google-api-key",
        "Google API key",
        HIGH,
        _B + r"(?P<v>AIza[0-9A-Za-z_-]{35})(?![A-Za-z0-9_-])",
        ("aiza",),
        "GOOGLE_API_KEY",
        placeholders=False,
    ),
    Rule(
        "anthropic-key",
        "Anthropic API key",
        HIGH,
        _B + r"(?P<v>sk-ant-(?:api|admin|sid)[0-9]{2}-[A-Za-z0-9_-]{80,120})(?![A-Za-z0-9_-])",
        ("sk-ant-",),
        "ANTHROPIC_API_KEY",
        placeholders=False,
    ),
    Rule(
        "openai-key",
        "OpenAI API key",
        HIGH,
        _B + r"(?P<v>sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,200}"
        r"|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}))(?![A-Za-z0-9_-])",
        ("sk-proj-", "sk-svcacct-", "sk-admin-", "t3blbkfj"),
        "OPENAI_API_KEY",
        placeholders=False,
    ),
    Rule(
        "npm-token",
        "npm access token",
        HIGH,
        _B + r"(?P<v>npm_[A-Za-z0-9]{36})" + _E + r"|_authToken=(?P<v1>[A-Za-z0-9_.-]{16,})",
        ("npm_", "_authtoken"),
        "NPM_TOKEN",
        placeholders=False,
    ),
    Rule(
        "pypi-token",
        "PyPI upload token",
        HIGH,
        _B + r"(?P<v>pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})(?![A-Za-z0-9_-])",
        ("pypi-ageichlwas5vcmc",),
        "PYPI_TOKEN",
        placeholders=False,
    ),
    Rule(
        "sendgrid-key",
        "SendGrid API key",
        HIGH,
        _B + r"(?P<v>SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])",
        ("sg.",),
        "SENDGRID_API_KEY",
        placeholders=False,
    ),
    Rule(
        "twilio-key",
        "Twilio API key",
        HIGH,
        _B + r"(?P<v>SK[0-9a-f]{32})" + _E,
        ("sk",),
        "TWILIO_API_KEY",
        placeholders=False,
    ),
    Rule(
        "digitalocean-token",
        "DigitalOcean token",
        HIGH,
        _B + r"(?P<v>do[opr]_v1_[a-f0-9]{64})" + _E,
        ("_v1_",),
        "DIGITALOCEAN_TOKEN",
        placeholders=False,
    ),
    Rule(
        "heroku-key",
        "Heroku API key",
        HIGH,
        _B + r"(?P<v>HRKU-[A-Za-z0-9_-]{60})(?![A-Za-z0-9_-])"
        r"|(?i:heroku[A-Za-z0-9_]*(?:key|token))[\"']?\s*[=:]\s*[\"']?"
        r"(?P<v1>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})",
        ("hrku-", "heroku"),
        "HEROKU_API_KEY",
        placeholders=False,
    ),
    Rule(
        "huggingface-token",
        "Hugging Face token",
        HIGH,
        _B + r"(?P<v>hf_[A-Za-z]{34})" + _E,
        ("hf_",),
        "HF_TOKEN",
        placeholders=False,
    ),
    Rule(
        "vault-token",
        "HashiCorp Vault / OpenBao token",
        HIGH,
        _B + r"(?P<v>hv[sbr]\.[A-Za-z0-9_-]{24,})(?![A-Za-z0-9_-])",
        ("hvs.", "hvb.", "hvr."),
        "VAULT_TOKEN",
        placeholders=False,
    ),
    Rule(
        "jwt",
        "JSON Web Token",
        HIGH,
        _B + r"(?P<v>eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})"
        r"(?![A-Za-z0-9_-])",
        ("eyj",),
        "JWT",
        placeholders=False,
    ),
    Rule(
        "http-auth-header",
        "HTTP Authorization header (Basic / Bearer)",
        MEDIUM,
        r"(?i:authorization)[\"']?\s*:\s*(?i:basic|bearer|token)\s+(?P<v>[A-Za-z0-9._~+/=-]{8,})",
        ("authorization",),
        "AUTH_TOKEN",
    ),
    # ---------------------------------------------------------------- shell context
    Rule(
        "pgpassword",
        "PGPASSWORD= in a command",
        MEDIUM,
        r"(?<![A-Za-z0-9_])(?P<name>PGPASSWORD)=" + WORD,
        ("pgpassword",),
        "PGPASSWORD",
    ),
    Rule(
        "mysql-pwd",
        "MYSQL_PWD= in a command",
        MEDIUM,
        r"(?<![A-Za-z0-9_])(?P<name>MYSQL_PWD)=" + WORD,
        ("mysql_pwd",),
        "MYSQL_PWD",
    ),
    Rule(
        "mysql-password",
        "mysql -pSECRET / -p SECRET",
        MEDIUM,
        r"\b(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlsh|mysqlcheck|mariadb|mariadb-dump)"
        # mysql reads the word after a detached "-p " as a database name: a lower-case
        # identifier there is taken to be one; anything else was surely meant as a password
        r"(?:[ \t]+[^\s;|&]+)*?[ \t]+-p(?:[ \t]+(?![a-z_]+(?:[\s;|&)]|$)))?" + WORD,
        ("mysql", "mariadb"),
        "MYSQL_PASSWORD",
    ),
    Rule(
        "mongo-password",
        "mongo / mongosh -p SECRET",
        MEDIUM,
        r"\b(?:mongo|mongosh|mongodump|mongorestore|mongoexport|mongoimport)"
        r"(?:[ \t]+[^\s;|&]+)*?[ \t]+-p[ \t]+" + WORD,
        ("mongo",),
        "MONGO_PASSWORD",
    ),
    Rule(
        "redis-cli-password",
        "redis-cli -a SECRET",
        MEDIUM,
        r"\bredis-cli(?:[ \t]+[^\s;|&]+)*?[ \t]+(?:-a|--pass|--askpass-no)[ \t]+" + WORD,
        ("redis-cli",),
        "REDISCLI_AUTH",
    ),
    Rule(
        "sshpass-password",
        "sshpass -p SECRET",
        MEDIUM,
        r"\bsshpass(?:[ \t]+[^\s;|&]+)*?[ \t]+-p[ \t]*" + WORD,
        ("sshpass",),
        "SSHPASS",
    ),
    Rule(
        "docker-env",
        "docker -e NAME=SECRET",
        MEDIUM,
        r"(?:[ \t]-e|--env)[ \t=]+" + CRED_VAR + "=" + WORD,
        ("-e", "--env"),
        "SECRET",
    ),
    Rule(
        "shell-secret-assignment",
        "export / env NAME=SECRET where NAME names a credential",
        MEDIUM,
        r"(?:^|(?<=[\s;&|(`'\"]))(?:export[ \t]+|env[ \t]+(?:-\S+[ \t]+)*|set[ \t]+-gx[ \t]+)?"
        + CRED_VAR
        + r"=(?!=)"
        + WORD,
        (
            "password",
            "passwd",
            "_pass",
            "pass=",
            "_pwd",
            "secret",
            "token",
            "_key",
            "apikey",
            "accesskey",
            "credential",
        ),
        "SECRET",
    ),
    Rule(
        "password-flag",
        "--password / --token / -secret / -authtoken on a command line",
        MEDIUM,
        r"(?<![\w-])--?(?!no-|ask-|prompt-|read-)(?P<flag>(?:[A-Za-z0-9_.]+[-_.])?"
        r"(?:password|passwd|pass|pwd|token|secret|authtoken|auth-token|api-key|apikey"
        r"|access-key|secret-key|client-secret))(?:=|[ \t]+)" + WORD,
        ("pass", "token", "secret", "pwd", "api-key", "apikey", "access-key"),
        "SECRET",
    ),
    Rule(
        "curl-user",
        "curl -u USER:SECRET",
        MEDIUM,
        r"\bcurl\b(?:[ \t]+[^\s;|&]+)*?[ \t]+(?:-u|--user)[ \t=]*[\"']?[^\s:'\"]+:"
        r"(?P<v>[^\s'\"@]+)",
        ("curl",),
        "CURL_PASSWORD",
    ),
    Rule(
        "url-userinfo",
        "password in a URL (scheme://user:SECRET@host)",
        MEDIUM,
        r"\b(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{1,20})://[^\s:/@'\"<>]*:"
        r"(?P<v>[^\s/@'\"<>]+)@[^\s'\"/@<>]",
        ("://",),
        "URL_PASSWORD",
    ),
    # ---------------------------------------------------------------- ERB defaults
    Rule(
        "erb-env-default",
        "ERB default for a credential: ENV.fetch('K', 'x') / ENV['K'] || 'x'",
        MEDIUM,
        r"ENV\.fetch\(\s*['\"]"
        + CRED_VAR
        + r"['\"]\s*,\s*(?:'(?P<v>[^'\n]+)'|\"(?P<v1>[^\"\n]+)\")"
        r"|ENV\.fetch\(\s*['\"]" + CRED_VAR.replace("<name>", "<name2>") + r"['\"]\s*\)\s*"
        r"\{\s*(?:'(?P<v2>[^'\n]+)'|\"(?P<v3>[^\"\n]+)\")"
        r"|ENV\[\s*['\"]" + CRED_VAR.replace("<name>", "<name3>") + r"['\"]\s*\]\s*"
        r"(?:\|\||or)\s*(?:'(?P<v4>[^'\n]+)'|\"(?P<v5>[^\"\n]+)\")",
        ("env.fetch", "env["),
        "SECRET",
    ),
    # ---------------------------------------------------------------- generic
    Rule(
        "generic-high-entropy",
        "high-entropy value assigned to a credential-like name",
        MEDIUM,
        r"(?i:(?:secret|token|passw(?:or)?d|pwd|api_?key|access_?key|auth|credential"
        r"|private_?key)[A-Za-z0-9_.-]*)[\"']?[ \t]*(?:=|:[ \t]|:=)[ \t]*[\"']?"
        r"(?P<v>[A-Za-z0-9+/=_.~-]{16,})",
        ("secret", "token", "passw", "pwd", "api", "key", "auth", "credential"),
        "SECRET",
        check=looks_random,
    ),
)

RULES_BY_ID: dict[str, Rule] = {r.id: r for r in RULES}


def name_is_secretish(name: str) -> bool:
    return not _NOT_CRED_VARS.search(name)
