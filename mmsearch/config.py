"""The root ``Settings``, read by pydantic-settings: defaults < config.yaml < ``MMSEARCH_*`` env < flags.

Which config file: ``--config PATH``, else ``$MMSEARCH_CONFIG``, else ``./config.yaml`` when present,
else the defaults alone. Environment keys nest with ``__``: ``MMSEARCH_EMBEDDING__DIM=256`` sets
``embedding.dim``. A relative ``data_dir`` in a config file is taken relative to that file.
The root composes each layer's own section model; it lives at the package top (beside the CLI) so the
API's ``server`` section can join without ``search`` importing ``api``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from mmsearch.access.settings import AccessSettings
from mmsearch.api.settings import ApiSettings
from mmsearch.errors import ConfigError
from mmsearch.index.settings import EmbeddingSettings, IndexSettings, StoreSettings
from mmsearch.ingest.settings import IngestSettings
from mmsearch.search.settings import RerankerSettings, SearchSettings
from mmsearch.threads import RuntimeSettings
from mmsearch.verify.settings import VerifySettings


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "mmsearch"


class _YamlSource(PydanticBaseSettingsSource):
    """The config file's mapping, with a relative ``data_dir`` resolved against the file's folder."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.data = read_yaml(path) if path else {}

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MMSEARCH_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        nested_model_default_partial_update=True,
        env_parse_none_str="null",
    )
    _config_file: ClassVar[Path | None] = None

    data_dir: Path = Field(default_factory=_default_data_dir, description="All on-disk state lives here.")
    ingest: IngestSettings = IngestSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    store: StoreSettings = StoreSettings()
    index: IndexSettings = IndexSettings()
    reranker: RerankerSettings = RerankerSettings()
    search: SearchSettings = SearchSettings()
    server: ApiSettings = ApiSettings()
    verify: VerifySettings = VerifySettings()
    access: AccessSettings = AccessSettings()
    runtime: RuntimeSettings = RuntimeSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls, cls._config_file))

    @field_validator("data_dir")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def store_path(self) -> Path:
        """The embedded Qdrant folder (when not using a server)."""
        return self.store.path if self.store.path is not None else self.data_dir / "qdrant"


def find_config_file(explicit: Path | None = None) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} does not exist")
        return explicit
    env = os.environ.get("MMSEARCH_CONFIG")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"MMSEARCH_CONFIG points at {path}, which does not exist")
        return path
    local = Path("config.yaml")
    return local if local.is_file() else None


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(
            f"config file {path}{_at(exc.problem_mark)}: not valid YAML: {exc.problem}"
        ) from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must be a mapping of sections, got {type(data).__name__}")
    data_dir = data.get("data_dir")
    if isinstance(data_dir, str) and not Path(data_dir).expanduser().is_absolute():
        data["data_dir"] = str((path.parent / data_dir).resolve())
    return data


def _at(mark: yaml.Mark | None) -> str:
    return f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


_SECRET_WORDS = ("key", "secret", "password", "token")


def format_validation_error(exc: ValidationError, origin: str) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"]) or "(root)"
        if err["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown setting")
            continue
        secret = any(word in key.lower() for word in _SECRET_WORDS)
        got = "(value hidden)" if secret else f"(got {err.get('input')!r})"
        lines.append(f"  {key}: {err['msg']} {got}")
    return f"invalid configuration ({origin}):\n" + "\n".join(lines)


def load_settings(config: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Build the settings. ``overrides`` (CLI flags) is nested like the YAML
    (``{"embedding": {"dim": 256}}``); ``None`` values are dropped so unset flags change nothing."""
    path = find_config_file(config)
    origin = (f"config file {path}" if path else "defaults") + ", MMSEARCH_* environment, flags"
    Settings._config_file = path
    try:
        return Settings(**_drop_none(overrides or {}))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, origin)) from exc
    except SettingsError as exc:  # e.g. an MMSEARCH_* variable holding malformed JSON for a list
        raise ConfigError(f"invalid configuration ({origin}): {exc}") from exc
    finally:
        Settings._config_file = None


def _drop_none(tree: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            value = _drop_none(value)
            if value:
                out[key] = value
        elif value is not None:
            out[key] = value
    return out
