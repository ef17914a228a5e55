"""The house rules of docs/architecture.md, checked: which package may import which, the
torch-free configs, no CLI toolkit in the core, and files of a readable size."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "stccl"
MAX_LINES = 450

# package (or module) of stccl -> what of stccl it may import. Data flows one way:
# words -> configs -> video, draw -> face -> data, models -> edit -> train, eval, inspect.
WORDS = {"errors", "emotions", "devices", "fs", "typed", "interrupts", "plan", "registry", "weights",
         "__version__"}
ALLOWED = {
    "errors": set(),
    "emotions": {"errors"},
    "devices": {"errors"},
    "fs": {"errors"},
    "typed": {"errors"},
    "interrupts": {"errors"},
    "plan": {"errors", "emotions"},
    "registry": {"errors"},
    "weights": {"errors", "fs"},
    "config": WORDS,
    "draw": set(),
    "video": WORDS,
    "face": WORDS | {"config", "video"},
    "models": WORDS,
    "data": WORDS | {"config", "video", "face"},
    "edit": WORDS | {"config", "video", "face", "models"},
    "train": WORDS | {"config", "video", "face", "data", "models", "edit", "loss"},
    "eval": WORDS | {"config", "video", "face", "data", "models", "edit", "draw"},
    "inspect": WORDS | {"config", "video", "face", "data", "models", "draw"},
    "loss": WORDS | {"models"},
    "__init__": {"edit", "loss"},
}


def _stccl_imports(path: Path) -> set[str]:
    """The stccl modules `path` imports, as dotted names below stccl ("face.align", "config")."""
    here = path.relative_to(ROOT).with_suffix("").parts
    package = here[:-1] if path.name != "__init__.py" else here[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.split(".")[0] == "stccl":
                target = node.module.split(".")
            else:
                continue
            names = [a.name for a in node.names]
            for name in names if not node.module else [None]:
                full = target + ([name] if name else [])
                out.add(".".join(full[1:]))
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".", 1)[1] for a in node.names if a.name.startswith("stccl.")}
    return {t for t in out if t}


def _owner(path: Path) -> str:
    rel = path.relative_to(CORE).with_suffix("").parts
    return rel[0]


def test_packages_import_only_what_the_architecture_allows():
    wrong = []
    for path in sorted(CORE.rglob("*.py")):
        owner = _owner(path)
        for target in _stccl_imports(path):
            top = target.split(".")[0]
            if top == owner:
                continue
            if top not in ALLOWED[owner] and target not in ALLOWED[owner] and \
                    ".".join(target.split(".")[:2]) not in ALLOWED[owner]:
                wrong.append(f"{path.relative_to(ROOT)} imports stccl.{target}")
    assert not wrong, "\n".join(wrong)


def test_the_core_never_imports_the_cli_toolkit():
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            assert not any(m.split(".")[0] in ("typer", "rich", "stccl_cli") for m in mods), path


def test_configs_and_the_train_entry_import_no_torch():
    code = ("import sys, stccl.config, stccl.models.config, stccl.train, stccl.train.config, "
            "stccl.train.stages, stccl.eval.config, stccl.emotions, stccl.devices; "
            "print(sorted(m for m in ('torch', 'cv2', 'numpy') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_no_file_in_the_core_is_over_450_lines():
    long = {str(p.relative_to(ROOT)): n for p in CORE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long
