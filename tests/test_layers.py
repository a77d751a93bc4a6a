"""The package's imports run one way: down the layer order of docs/ARCHITECTURE.md.

Every module of mdembed is placed in a layer (the longest matching name
wins); a module may import modules of its own layer or below, never above.
Imports inside functions count too. A new module must be placed here.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import mdembed

# lowest first; keep in step with docs/ARCHITECTURE.md
LAYERS = [
    ("foundation", ["mdembed", "mdembed.core"]),
    ("settings", ["mdembed.config", "mdembed.settings"]),
    ("learning", ["mdembed.learning"]),
    ("network", ["mdembed.network"]),
    ("workload", ["mdembed.workload"]),
    ("embedding", ["mdembed.embedding"]),
    ("records", ["mdembed.records"]),
    ("env", ["mdembed.env"]),
    ("agents", ["mdembed.agents"]),
    ("loops", ["mdembed.market.simulation"]),
    ("scenarios", ["mdembed.market", "mdembed.dc"]),
    ("scenario registry", ["mdembed.scenarios"]),
    ("entry points", ["mdembed.run", "mdembed.plot", "mdembed.bench", "mdembed.analysis", "mdembed.help", "mdembed.rundir"]),
    ("the command", ["mdembed.command", "mdembed.__main__"]),
]  # fmt: skip
ROOT = Path(mdembed.__file__).parent


def layer_of(module: str) -> int | None:
    best, layer = -1, None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, layer = len(prefix), index
    return layer


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    path = ROOT.parent / name.replace(".", "/")
    return path.is_dir() or path.with_suffix(".py").is_file()


def imported_modules(path: Path, name: str) -> list[str]:
    """Every mdembed module ``path`` imports, anywhere in the file (``from mdembed import x`` names x)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append(base)
            found += [f"{base}.{alias.name}" for alias in node.names if _is_module(f"{base}.{alias.name}")]
    return [m for m in found if m == "mdembed" or m.startswith("mdembed.")]


def test_every_module_has_a_layer():
    unplaced = [module_name(p) for p in ROOT.rglob("*.py") if layer_of(module_name(p)) is None]
    assert unplaced == []


def test_no_module_imports_a_higher_layer():
    upward = []
    for path in sorted(ROOT.rglob("*.py")):
        name = module_name(path)
        own = layer_of(name)
        for target in imported_modules(path, name):
            layer = layer_of(target)
            if layer is not None and own is not None and layer > own:
                upward.append(f"{name} ({LAYERS[own][0]}) imports {target} ({LAYERS[layer][0]})")
    assert upward == []


def test_the_checker_sees_every_form_of_import(tmp_path):
    """The checker itself: absolute, from-package, relative and in-function imports are all seen."""
    path = tmp_path / "seeding.py"
    path.write_text(
        "import mdembed.run\nfrom mdembed import plot\nfrom .agents import td3\n"
        "def f():\n    from mdembed.learning.loop import train\n"
    )
    targets = imported_modules(path, "mdembed.settings")
    assert {"mdembed.run", "mdembed.plot", "mdembed.agents.td3", "mdembed.learning.loop"} <= set(targets)
    assert all(layer_of(t) > layer_of("mdembed.settings") for t in ("mdembed.run", "mdembed.plot", "mdembed.agents.td3"))


def test_the_training_loop_loads_no_market_algorithm_and_the_data_centre_nothing_of_the_market():
    """Issue 23: learning has one home that knows no scenario, and the data-centre scenario stands beside the market."""
    market = ("mdembed.agents", "mdembed.env", "mdembed.embedding", "mdembed.network", "mdembed.workload",
              "mdembed.market.run", "mdembed.market.build", "mdembed.market.simulation", "mdembed.records.occupancy", "mdembed.records.metrics")  # fmt: skip
    for module in ("mdembed.learning.loop", "mdembed.dc.experiment"):
        code = f"import sys, {module}; print('\\n'.join(sorted(m for m in sys.modules if m.startswith('mdembed'))))"
        loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        assert module in loaded
        assert [m for m in loaded if m.startswith(market)] == [], module
