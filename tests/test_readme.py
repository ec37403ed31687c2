"""The README's first workflow works as pasted, and the examples the documentation does not run still hold.

Every Python block of the README runs as a script in a fresh directory. The documentation's examples are
``{code-cell}`` blocks that ``make docs`` executes; a plain Python block there (or in the README) is one
that cannot run here (a Slurm cluster, a real QPU) and is marked by an HTML comment right before it,
``<!-- not-run: why -->``: such a block must still compile, and every name it imports must exist.
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

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
BLOCK = re.compile(
    r"(?:<!--\s*not-run:\s*(?P<why>[^>]*?)\s*-->\s*\n)?```python\n(?P<code>.*?)^```", re.S | re.M
)
CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(?P<code>.*?)^```", re.S | re.M)
HEADING = re.compile(r"^#+ (.+)$", re.M)
TIMEOUT_S = 600  # under load on 2 cores; a run takes seconds to a minute on a quiet machine
README_MAX_LINES = 150  # the front page: what it is, two commands, a first workflow, the motifs, the docs


@dataclass(frozen=True)
class Snippet:
    """A Python block: its file, where it is, under which heading, its code and why it is not run (if so)."""

    source: str
    line: int
    heading: str
    code: str
    not_run: str | None

    @property
    def name(self) -> str:
        return f"{self.source}:line{self.line}-" + re.sub(r"\W+", "-", self.heading.lower()).strip("-")


def snippets(text: str, source: str = "README.md") -> list[Snippet]:
    """The plain Python blocks of a Markdown text, in order."""
    found = []
    for match in BLOCK.finditer(text):
        before = text[: match.start("code")]
        headings = HEADING.findall(before)
        found.append(
            Snippet(source, before.count("\n"), headings[-1] if headings else "", match["code"], match["why"])
        )
    return found


def code_cells(text: str) -> list[str]:
    """The code of a MyST notebook page's ``{code-cell}`` blocks, without their ``:option:`` lines."""
    cells = []
    for match in CODE_CELL.finditer(text):
        lines = match["code"].splitlines(keepends=True)
        while lines and lines[0].startswith(":"):
            lines.pop(0)
        cells.append("".join(lines))
    return cells


DOC_PAGES = sorted(DOCS.rglob("*.md"))
SNIPPETS = snippets(README.read_text())
DOC_SNIPPETS = [s for page in DOC_PAGES for s in snippets(page.read_text(), str(page.relative_to(ROOT)))]
RUN = [s for s in SNIPPETS if s.not_run is None]
NOT_RUN = [s for s in SNIPPETS + DOC_SNIPPETS if s.not_run is not None]


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


def test_the_readme_is_a_front_page_with_a_first_workflow_that_runs():
    assert len(README.read_text().splitlines()) <= README_MAX_LINES
    assert any(s.heading == "A first workflow" for s in RUN)
    assert all(s.not_run for s in NOT_RUN)  # an empty reason is not a reason


def test_the_docs_first_workflow_is_the_readmes():
    readme_first = next(s.code for s in RUN if s.heading == "A first workflow")
    assert readme_first in code_cells((DOCS / "getting_started.md").read_text())


def test_every_plain_python_block_in_the_docs_says_why_it_is_not_run():
    unmarked = [s.name for s in DOC_SNIPPETS if s.not_run is None]
    assert unmarked == [], "executable examples in the docs are {code-cell} blocks"


def test_the_readme_parts_the_docs_include_are_marked_once():
    text = README.read_text()
    for part in ("install", "motifs"):
        assert text.count(f"<!-- {part}-start -->") == 1 and text.count(f"<!-- {part}-end -->") == 1, part
        assert text.index(f"<!-- {part}-start -->") < text.index(f"<!-- {part}-end -->"), part


def test_monitoring_examples_guard_the_workflow():
    cells = [cell for page in DOC_PAGES for cell in code_cells(page.read_text())]
    examples = [code for code in cells + [s.code for s in SNIPPETS + DOC_SNIPPETS] if "MonitoringHub" in code]
    assert examples, "the documentation shows how to monitor a workflow"
    for code in examples:
        assert 'if __name__ == "__main__":' in code, code[:200]


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
    compile(snippet.code, f"{snippet.source}:{snippet.line}", "exec")
    assert unresolved_imports(snippet.code) == []


def test_blocks_are_found_with_their_markers():
    text = "# T\n\n```python\nprint(1)\n```\n\n## S\n\n<!-- not-run: needs X -->\n```python\nimport os\n```\n"
    first, second = snippets(text)
    assert (first.line, first.heading, first.code, first.not_run) == (3, "T", "print(1)\n", None)
    assert (second.heading, second.code, second.not_run) == ("S", "import os\n", "needs X")
    assert unresolved_imports("import os\nfrom os import path, no_such_name\n") == ["os.no_such_name"]


def test_code_cells_are_found_without_their_options():
    page = "# P\n\n```{code-cell} python\n:tags: [remove-input]\nx = 1\n```\n\n```python\ny = 2\n```\n"
    assert code_cells(page) == ["x = 1\n"]
