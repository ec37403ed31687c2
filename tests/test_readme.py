"""Every Python block of the README works as pasted: each runs as a script in a fresh directory.

A block that cannot run here (a Slurm cluster, a real QPU) is marked in the README by an HTML comment
right before it, ``<!-- not-run: why -->``; such a block must still compile, and every name it imports
must exist.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(
    r"(?:<!--\s*not-run:\s*(?P<why>[^>]*?)\s*-->\s*\n)?```python\n(?P<code>.*?)^```", re.S | re.M
)
HEADING = re.compile(r"^#+ (.+)$", re.M)
TIMEOUT_S = 600  # under load on 2 cores; a run takes seconds to a minute on a quiet machine


@dataclass(frozen=True)
class Snippet:
    """A README code block: where it is, under which heading, its code and why it is not run (if so)."""

    line: int
    heading: str
    code: str
    not_run: str | None

    @property
    def name(self) -> str:
        return f"line{self.line}-" + re.sub(r"\W+", "-", self.heading.lower()).strip("-")


def snippets(text: str) -> list[Snippet]:
    """The README's Python blocks, in order."""
    found = []
    for match in BLOCK.finditer(text):
        before = text[: match.start("code")]
        headings = HEADING.findall(before)
        found.append(
            Snippet(before.count("\n"), headings[-1] if headings else "", match["code"], match["why"])
        )
    return found


SNIPPETS = snippets(README.read_text())
RUN = [s for s in SNIPPETS if s.not_run is None]
NOT_RUN = [s for s in SNIPPETS if s.not_run is not None]


def module_exists(name: str) -> bool:
    """Whether ``name`` is an importable module (``False`` also when a parent is not a package)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def unresolved_imports(code: str) -> list[str]:
    """The names ``code`` imports that do not exist (modules, or names in a module)."""
    missing = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            missing += [a.name for a in node.names if not module_exists(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.import_module(node.module)
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if not hasattr(module, alias.name) and not module_exists(submodule):
                    missing.append(submodule)
    return missing


def test_the_readme_has_runnable_blocks_and_every_skip_says_why():
    assert len(SNIPPETS) >= 5
    assert any(s.heading == "A first workflow" for s in RUN)
    assert all(s.not_run for s in NOT_RUN)  # an empty reason is not a reason


def test_monitoring_examples_guard_the_workflow():
    monitoring = [s for s in SNIPPETS if "MonitoringHub" in s.code]
    assert monitoring, "the README shows how to monitor a workflow"
    for snippet in monitoring:
        assert 'if __name__ == "__main__":' in snippet.code, snippet.name


@pytest.mark.slow
@pytest.mark.parametrize("snippet", RUN, ids=[s.name for s in RUN])
def test_block_runs_as_pasted(snippet, tmp_path):
    script = tmp_path / "snippet.py"
    script.write_text(snippet.code)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"README line {snippet.line}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"


@pytest.mark.parametrize("snippet", NOT_RUN, ids=[s.name for s in NOT_RUN])
def test_block_not_run_here_compiles_and_its_imports_resolve(snippet):
    compile(snippet.code, f"README.md:{snippet.line}", "exec")
    assert unresolved_imports(snippet.code) == []


def test_blocks_are_found_with_their_markers():
    text = "# T\n\n```python\nprint(1)\n```\n\n## S\n\n<!-- not-run: needs X -->\n```python\nimport os\n```\n"
    first, second = snippets(text)
    assert (first.line, first.heading, first.code, first.not_run) == (3, "T", "print(1)\n", None)
    assert (second.heading, second.code, second.not_run) == ("S", "import os\n", "needs X")
    assert unresolved_imports("import os\nfrom os import path, no_such_name\n") == ["os.no_such_name"]
