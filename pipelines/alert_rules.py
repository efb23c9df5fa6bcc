"""Alert rules and delivery channels, read from a validated YAML file (pydantic).

A mistake stops the load with one ConfigError line naming the file, the rule (or channel)
and the field, e.g. `alerts.yaml: rule 'big-leads': field 'min_score': must be ≤ 1`.
Rule kinds: a new lead in a category above a score, a new actor, a template burst (N
accounts in M hours), a source failing N runs in a row. Channels: webhook and e-mail.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pipelines.errors import ConfigError

# Rule and channel names: short, stable, safe in keys, logs and e-mail subjects.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")
_DIGEST_AT = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
RULE_KINDS = ("new_lead", "new_actor", "template_burst", "source_failing")
CHANNEL_TYPES = ("webhook", "email")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class WebhookChannel(_Model):
    """HTTP POST of one JSON object per message; retried with back-off on failure."""

    type: Literal["webhook"]
    url: str = Field(description="http:// or https:// URL that receives the POST.")
    timeout: float = Field(10.0, gt=0, le=120, description="Seconds per attempt.")
    retries: int = Field(2, ge=0, le=10, description="Further attempts within one check.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("headers")
    @classmethod
    def _one_line_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if re.search(r"[\r\n]", name + text) or not re.match(r"^[A-Za-z0-9-]+$", name):
                raise ValueError(f"header {name!r}: names are letters/digits/-, no line breaks")
        return value


class EmailChannel(_Model):
    """SMTP delivery (smtplib): host/port, from/to, optional STARTTLS and login."""

    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(25, ge=1, le=65535)
    sender: str = Field(alias="from", description="Envelope and header From address.")
    to: list[str] = Field(min_length=1, description="Recipient addresses.")
    starttls: bool = Field(False, description="Upgrade the connection with STARTTLS first.")
    username: str | None = None
    password_env: str | None = Field(
        None, description="Name of the environment variable holding the SMTP password."
    )
    timeout: float = Field(20.0, gt=0, le=300)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not _ADDRESS.match(value):
            raise ValueError(f"{value!r} is not a plain e-mail address")
        return value

    @field_validator("to")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        for address in value:
            if not _ADDRESS.match(address):
                raise ValueError(f"{address!r} is not a plain e-mail address")
        return value


Channel = Annotated[WebhookChannel | EmailChannel, Field(discriminator="type")]


class _Rule(_Model):
    id: str = Field(pattern=NAME_PATTERN, description="Short stable id (dedup key part).")
    channels: list[str] = Field(min_length=1, description="Names from the channels mapping.")
    digest: bool = Field(False, description="Collect events; one message per day per channel.")
    description: str = ""


class NewLeadRule(_Rule):
    """A lead (a page judged a promotion) in `category` scoring at least `min_score`."""

    kind: Literal["new_lead"]
    category: str | None = Field(None, description="Lexicon category id or label; none: any.")
    min_score: float = Field(0.5, ge=0, le=1)
    within_hours: float = Field(24.0, gt=0, description="Only leads analysed this recently.")


class NewActorRule(_Rule):
    """An actor (contacts shared across pages) first seen recently, of at least `min_size`."""

    kind: Literal["new_actor"]
    min_size: int = Field(2, ge=1, description="Pages the actor must have.")
    within_hours: float = Field(24.0, gt=0)


class TemplateBurstRule(_Rule):
    """One wording template posted by at least `accounts` accounts within `hours`."""

    kind: Literal["template_burst"]
    accounts: int = Field(3, ge=2)
    hours: float = Field(24.0, gt=0)


class SourceFailingRule(_Rule):
    """A source whose last `runs` finished runs all failed (one alert per failing streak)."""

    kind: Literal["source_failing"]
    runs: int = Field(3, ge=1)
    source: str | None = Field(None, description="One source id; none: every source.")


Rule = Annotated[
    NewLeadRule | NewActorRule | TemplateBurstRule | SourceFailingRule,
    Field(discriminator="kind"),
]


class AlertsConfig(_Model):
    """The whole alerts file: named channels, rules, and when daily digests go out."""

    channels: dict[str, Channel] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    digest_at: str = Field("09:00", description="Local (UTC+8) time digests are sent from.")

    @field_validator("digest_at")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _DIGEST_AT.match(value):
            raise ValueError("must be HH:MM, e.g. 09:00")
        return value

    @model_validator(mode="after")
    def _names(self) -> AlertsConfig:
        for name in self.channels:
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"channel name {name!r}: letters, digits, _ . - only")
        return self

    @property
    def digest_minutes(self) -> int:
        """`digest_at` as minutes after local midnight."""
        hours, minutes = self.digest_at.split(":")
        return int(hours) * 60 + int(minutes)

    def rule(self, rule_id: str) -> Any | None:
        """The rule with this id, or None."""
        return next((r for r in self.rules if r.id == rule_id), None)


def _where(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """'rule 'x': field 'y'' / 'channel 'n': field 'y'' from a pydantic error location."""
    parts = list(loc)
    kinds = {*RULE_KINDS, *CHANNEL_TYPES}
    if len(parts) >= 2 and parts[0] == "rules" and isinstance(parts[1], int):
        item = (data.get("rules") or [])[parts[1]]
        rid = item.get("id") if isinstance(item, dict) else None
        who = f"rule '{rid}'" if isinstance(rid, str) else f"rule #{parts[1] + 1}"
        rest = [p for p in parts[2:] if p not in kinds]
    elif len(parts) >= 2 and parts[0] == "channels":
        who = f"channel '{parts[1]}'"
        rest = [p for p in parts[2:] if p not in kinds]
    else:
        return f"field '{'.'.join(str(p) for p in parts)}'" if parts else "top level"
    field = ".".join(str(p) for p in rest)
    return f"{who}: field '{field}'" if field else who


def _describe(label: str, data: dict[str, Any], exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        rule = bool(loc) and loc[0] == "rules"
        tag, known = ("kind", RULE_KINDS) if rule else ("type", CHANNEL_TYPES)
        given = (err.get("ctx") or {}).get("tag")
        what = f"unknown {tag} {given!r}" if given is not None else "missing"
        return f"{label}: {_where(loc, data)}: field '{tag}': {what} (known: {', '.join(known)})"
    return f"{label}: {_where(loc, data)}: {message}"


def _check_references(label: str, config: AlertsConfig, categories: dict[str, str]) -> None:
    """Rule ids unique, channels known, categories known (id or Chinese label → id)."""
    seen: set[str] = set()
    by_label = {text: cid for cid, text in categories.items()}
    for rule in config.rules:
        if rule.id in seen:
            raise ConfigError(f"{label}: rule '{rule.id}': field 'id': duplicate id")
        seen.add(rule.id)
        for name in rule.channels:
            if name not in config.channels:
                known = ", ".join(config.channels) or "none defined"
                raise ConfigError(
                    f"{label}: rule '{rule.id}': field 'channels': no channel '{name}' "
                    f"(known: {known})"
                )
        if isinstance(rule, NewLeadRule) and rule.category is not None and categories:
            if rule.category in by_label:
                rule.category = by_label[rule.category]
            elif rule.category not in categories:
                known = ", ".join(categories)
                raise ConfigError(
                    f"{label}: rule '{rule.id}': field 'category': unknown category "
                    f"{rule.category!r} (known: {known})"
                )


def parse_alerts(text: str, label: str, categories: dict[str, str] | None = None) -> AlertsConfig:
    """Validate alert rules given as YAML text; `categories` maps lexicon ids to labels."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{label}: not valid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: expected a mapping with 'channels:' and 'rules:'")
    try:
        config = AlertsConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(label, data, exc)) from None
    _check_references(label, config, categories or {})
    return config


def load_alerts(path: Path, categories: dict[str, str] | None = None) -> AlertsConfig:
    """Read and validate an alerts file; ConfigError names file, rule/channel and field."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read alerts file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return parse_alerts(text, str(path), categories)
