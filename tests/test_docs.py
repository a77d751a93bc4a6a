"""The documentation holds together: no broken link or anchor, a README that stays a front page, and a
configuration reference that matches the config files and the settings classes."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

import mdembed
from mdembed import settings as config_settings
from mdembed.help import REFERENCE_END, REFERENCE_START, reference

ROOT = Path(mdembed.__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", ROOT / "experiments" / "README.md", *ROOT.glob("docs/*.md"),
                *ROOT.glob("results/reference/**/README.md")])  # fmt: skip
LINK = re.compile(r"\]\(([^)\s]+)\)|<img src=\"([^\"]+)\"")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", text, flags=re.M)}


def links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return [a or b for a, b in LINK.findall(text)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_and_anchor_resolves(page):
    broken = []
    for target in links(page):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: {broken}"


def test_every_docs_page_is_reachable_from_the_readme():
    reachable, todo = set(), [ROOT / "README.md"]
    while todo:
        page = todo.pop()
        for target in links(page):
            path = target.partition("#")[0]
            if path.endswith(".md") and not path.startswith("http"):
                file = (page.parent / path).resolve()
                if file not in reachable and file.exists():
                    reachable.add(file)
                    todo.append(file)
    assert {p.resolve() for p in ROOT.glob("docs/*.md")} <= reachable


def test_the_readme_is_a_front_page():
    words = len(re.sub(r"```.*?```", "", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.S).split())
    assert words < 1000, words


def test_the_configuration_reference_is_the_config_files():
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    start, end = page.index(REFERENCE_START), page.index(REFERENCE_END) + len(REFERENCE_END)
    assert page[start:end] == reference(), "docs/configuration.md is stale: write mdembed.help.reference() into it"


@pytest.mark.parametrize("section,cls", [
    ("topology", config_settings.TopologySettings), ("workload", config_settings.WorkloadSettings), ("market", config_settings.MarketSettings),
    ("routing", config_settings.RoutingSettings), ("metrics", config_settings.MetricsSettings), ("agent", config_settings.AgentSettings),
    ("train", config_settings.TrainSettings), ("eval", config_settings.EvalSettings),
])  # fmt: skip
def test_every_setting_is_in_the_reference(section, cls):
    text = reference()
    missing = [f.name for f in dataclasses.fields(cls) if not re.search(rf"^\s*{f.name}:", text, flags=re.M)]
    assert not missing, f"{section}: {missing}"
    assert re.search(rf"^{section}:", text, flags=re.M) or section == "workload"


def test_every_top_level_setting_is_in_the_reference():
    sections = {"topology", "workload", "market", "routing", "metrics", "agent", "train", "eval", "algorithm", "results"}
    text = reference()
    missing = [f.name for f in dataclasses.fields(config_settings.Settings) if f.name not in sections
               and not re.search(rf"^{f.name}:", text, flags=re.M)]  # fmt: skip
    assert not missing
