"""The package's imports run one way: down the layer order of docs/ARCHITECTURE.md.

Every module of mdembed is placed in a layer (the longest matching name
wins); a module may import modules of its own layer or below, never above.
Imports inside functions count too. A new module must be placed here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mdembed

# lowest first; keep in step with docs/ARCHITECTURE.md
LAYERS = [
    ("foundation", ["mdembed", "mdembed.errors", "mdembed.registry", "mdembed.seeding", "mdembed.io", "mdembed.lock",
                    "mdembed.failures", "mdembed.memory", "mdembed.progress", "mdembed.transitions", "mdembed.provenance"]),
    ("settings", ["mdembed.config", "mdembed.cli"]),
    ("network", ["mdembed.network"]),
    ("workload", ["mdembed.workload"]),
    ("embedding", ["mdembed.embedding"]),
    ("records", ["mdembed.occupancy", "mdembed.metrics", "mdembed.trace", "mdembed.checkpoints",
                 "mdembed.tensorboard"]),
    ("env", ["mdembed.env"]),
    ("agents", ["mdembed.agents"]),
    ("loops", ["mdembed.simulation", "mdembed.training"]),
    ("scenario runs", ["mdembed.build", "mdembed.multidomain", "mdembed.dc"]),
    ("analysis", ["mdembed.analysis", "mdembed.dc.plots"]),
    ("scenario registry", ["mdembed.scenarios"]),
    ("entry points", ["mdembed.run", "mdembed.plot", "mdembed.bench", "mdembed.analysis.cost_ratio",
                      "mdembed.analysis.monopoly"]),
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
        "import mdembed.run\nfrom mdembed import plot\nfrom .agents import ddpg\n"
        "def f():\n    from mdembed.training import train\n"
    )
    targets = imported_modules(path, "mdembed.seeding")
    assert {"mdembed.run", "mdembed.plot", "mdembed.agents.ddpg", "mdembed.training"} <= set(targets)
    assert all(layer_of(t) > layer_of("mdembed.seeding") for t in ("mdembed.run", "mdembed.plot", "mdembed.agents.ddpg"))


def test_the_training_loop_imports_no_concrete_agent_or_environment():
    path = ROOT / "training.py"
    targets = imported_modules(path, "mdembed.training")
    assert "mdembed.agents.registry" in targets
    concrete = ("mdembed.agents.", "mdembed.env", "mdembed.dc")
    assert not [t for t in targets if t.startswith(concrete) and t != "mdembed.agents.registry"]
