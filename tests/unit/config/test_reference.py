"""The config reference in README.md is generated from the schema and must be current."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.modelcare.config.reference import END, START, markdown, render_into, rows

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_holds_the_current_reference() -> None:
    text = README.read_text()
    block = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert block == markdown(), "README.md's config reference is out of date: run `make docs`"


def test_every_section_and_nested_key_is_listed() -> None:
    keys = {key for key, *_ in rows()}
    for expected in (
        "data.features.numerical",
        "validation.columns.<name>.max",
        "training.gate.min_improvement",
        "deploy.sagemaker.wait_interval_seconds",
        "deploy.lambda.function_name",
        "registry.sagemaker_model_package_group",
    ):
        assert expected in keys


def test_render_into_replaces_only_the_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{START}\nSTALE-CONTENT\n{END}\n\nafter\n")
    assert render_into(readme) is True
    text = readme.read_text()
    assert text.startswith("# title") and text.endswith("after\n") and "STALE-CONTENT" not in text
    assert render_into(readme) is False
    (tmp_path / "broken.md").write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        render_into(tmp_path / "broken.md")
