"""The documentation stands alone: no pointer outside the repository, links into
docs/MODEL.md land on a section, and every grid key it names exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from w2s_jax.execution.grid_checks import valid_keys

ROOT = Path(__file__).resolve().parents[1]
TEXT = (".py", ".md", ".toml", ".txt", ".cfg")


def tracked_text_files() -> list[Path]:
    """The repository's text files (git's list; outside a checkout, the source folders)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        folders = ("src", "tests", "docs", "benchmarks", "sweeps", "examples")
        listed = [str(p.relative_to(ROOT)) for f in folders for p in (ROOT / f).rglob("*")]
        listed += [p.name for p in ROOT.glob("*.md")]
    return [ROOT / name for name in listed if name.endswith(TEXT)]


def anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_nothing_points_outside_the_repository():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in tracked_text_files()
        if path != Path(__file__).resolve()  # this file names what it looks for
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "../shared" in line or "SPEC §" in line or "SPEC.md" in line
    ]
    assert offenders == []


def test_links_to_model_md_land_on_a_section():
    model = (ROOT / "docs" / "MODEL.md").read_text()
    anchors = {anchor(h) for h in re.findall(r"^#{2,3} (.+)$", model, re.MULTILINE)}
    links = [
        (path.relative_to(ROOT), target)
        for path in tracked_text_files()
        if path.suffix == ".md"
        for target in re.findall(r"\]\((?:docs/)?MODEL\.md#([\w\-]+)\)", path.read_text())
    ]
    links += [("docs/MODEL.md", target) for target in re.findall(r"\]\(#([\w\-]+)\)", model)]
    assert len(links) > 10
    assert [(p, t) for p, t in links if t not in anchors] == []


def test_every_grid_key_named_in_model_md_exists():
    model = (ROOT / "docs" / "MODEL.md").read_text()
    named = set(re.findall(r"`((?:data|weak|strong|eval|run)\.\w+)", model))
    assert len(named) > 20
    assert sorted(named - set(valid_keys())) == []


def test_readme_fits_on_a_page_and_every_relative_link_lands():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 180
    broken = []
    for path in tracked_text_files():
        if path.suffix != ".md":
            continue
        for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            file, _, section = target.partition("#")
            where = (path.parent / file).resolve()
            if not where.exists():
                broken.append(f"{path.relative_to(ROOT)} -> {target}")
            elif section and where.suffix == ".md":
                headings = re.findall(r"^#{1,4} (.+)$", where.read_text(), re.MULTILINE)
                if section not in {anchor(h) for h in headings}:
                    broken.append(f"{path.relative_to(ROOT)} -> {target}")
    assert broken == []
