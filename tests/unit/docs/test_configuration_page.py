"""docs/configuration.md is what ``python -m scripts.docs_config`` generates from the settings."""

from __future__ import annotations

import pytest
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.settings import ApiSettings
from projector.settings import ProjectorSettings
from scripts import docs_config


def test_the_committed_page_is_the_generated_one() -> None:
    committed = docs_config.PAGE.read_text()
    assert committed == docs_config.render(), (
        "docs/configuration.md is out of date: run `.venv/bin/python -m scripts.docs_config`"
    )


def test_every_settings_class_is_found() -> None:
    found = docs_config.settings_classes()
    assert ProjectorSettings in found
    assert ApiSettings in found


def test_every_setting_of_every_class_is_on_the_page() -> None:
    page = docs_config.render()
    for cls in docs_config.settings_classes():
        for name, field in cls.model_fields.items():
            for variable in docs_config.env_names(cls, name, field):
                assert f"`{variable}`" in page, f"{cls.__name__}.{name}: {variable} not listed"


def test_a_setting_without_a_description_is_refused() -> None:
    class Undocumented(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="X_")

        documented: int = Field(1, description="has one")
        bare: int = 2

    with pytest.raises(SystemExit, match=r"Undocumented: no description for bare"):
        docs_config.render_class(Undocumented)


def test_variables_follow_prefixes_and_aliases() -> None:
    rows = "\n".join(docs_config.render_class(ApiSettings))
    assert "| `API_CACHE_MAX_BYTES` | integer (≥ 1) | `67108864` |" in rows
    assert "`REDIS_URL` or `API_REDIS_URL`" in rows
    assert "| `API_DEMO_TOKEN` | string, optional | (unset) |" in rows
