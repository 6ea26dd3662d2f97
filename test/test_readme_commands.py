"""The README is what sets up a fresh machine: its two commands, and CI calling the test one (a README emptied by a
bad edit once passed the whole suite)."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) > 200, "README.md looks truncated"
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"], commands
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test\s*$", ci, re.M), ci
    make = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo: setup$", make, re.M) and re.search(r"^test: setup$", make, re.M)
