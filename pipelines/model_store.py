"""Which detector model is in use: the bundled one, or a version the team learned.

`greywatch learn` writes each new model to `$GREYWATCH_HOME/models/<version>/detector.npz` with
its figures, and makes it active only when it beats the active one; `ACTIVE` names the version
in use and `history.json` the order of activations, so `greywatch learn --rollback` can go back
one step (to the bundled model at the end). `$GREYWATCH_MODEL` overrides all of this with a
file. Reading never creates a folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipelines.errors import ConfigError
from pipelines.settings import settings

MODEL_FILE = "detector.npz"
ENV_MODEL = "GREYWATCH_MODEL"


@dataclass(frozen=True)
class ModelVersion:
    """One learned model kept under the models folder."""

    version: str
    path: Path
    created: str
    figures: dict[str, object]


def models_dir() -> Path:
    """Where learned models live: `$GREYWATCH_HOME/models`."""
    return settings().home / "models"


def active_model_path() -> Path | None:
    """The model file in use, or None for the bundled model."""
    path = settings().model
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"{ENV_MODEL}: no model file at {path}", hint=f"unset {ENV_MODEL}")
        return path
    version = active_version()
    return models_dir() / version / MODEL_FILE if version else None


def active_version() -> str | None:
    """The learned version named in `ACTIVE`, or None (bundled model)."""
    marker = models_dir() / "ACTIVE"
    try:
        version = marker.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if version and (models_dir() / version / MODEL_FILE).is_file():
        return version
    return None


def history() -> list[str]:
    """Versions in the order they were made active (oldest first)."""
    path = models_dir() / "history.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable model history ({exc})") from None
    return [str(v) for v in data] if isinstance(data, list) else []


def list_versions() -> list[ModelVersion]:
    """Every learned model on disk, oldest first."""
    root = models_dir()
    if not root.is_dir():
        return []
    out: list[ModelVersion] = []
    for folder in sorted(p for p in root.iterdir() if (p / MODEL_FILE).is_file()):
        info = _read_info(folder)
        out.append(
            ModelVersion(
                folder.name,
                folder / MODEL_FILE,
                str(info.get("created", "")),
                dict(info.get("figures", {})),
            )
        )
    return out


def _read_info(folder: Path) -> dict[str, object]:
    try:
        data = json.loads((folder / "info.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def new_version_dir(version: str) -> Path:
    """A fresh folder for a new model version (created)."""
    folder = models_dir() / version
    folder.mkdir(parents=True, exist_ok=False)
    return folder


def write_info(folder: Path, figures: dict[str, object]) -> None:
    """Record when and how well a version was made, beside its model file."""
    info = {"created": datetime.now(UTC).isoformat(timespec="seconds"), "figures": figures}
    (folder / "info.json").write_text(
        json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8"
    )


def activate(version: str) -> None:
    """Make a learned version the active model and append it to the history."""
    if not (models_dir() / version / MODEL_FILE).is_file():
        raise ConfigError(f"no learned model {version!r} in {models_dir()}")
    _write_history([*history(), version])
    _write_active(version)


def rollback() -> str | None:
    """Go back to the model active before the current one; returns it (None = bundled)."""
    past = history()
    current = active_version()
    if current is None:
        raise ConfigError("the bundled model is already in use: nothing to roll back")
    while past and past[-1] == current:
        past.pop()
    previous = next((v for v in reversed(past) if (models_dir() / v / MODEL_FILE).is_file()), None)
    _write_history(past)
    _write_active(previous or "")
    return previous


def _write_active(version: str) -> None:
    from pipelines.classifier import forget_model

    _atomic_write(models_dir() / "ACTIVE", version + "\n")
    forget_model()


def _write_history(versions: list[str]) -> None:
    _atomic_write(models_dir() / "history.json", json.dumps(versions, indent=1))


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
