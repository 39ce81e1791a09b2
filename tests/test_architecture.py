"""The house rules a reader relies on, checked on the source (no TensorFlow): flags are read only in main.

A library function that reads absl flags cannot be called from another program or a test without
defining and parsing those flags first (../STYLE: "thin binaries"). Binaries read their flags in
`main`/`_main` and may hand the parsed FlagValues to a converter that returns a typed config
(`train_flags.config_from_flag_values`, `baseline_flags.job_from_flags`); a `*_flags.py` module is such a
converter (its reason to exist).
"""

import ast
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("nag_tf", "export", "keras_apps")
MAIN_FUNCTIONS = {"main", "_main"}


def _flag_holders(tree):
    """Module-level names bound to flags.DEFINE_*(...): their `.value` is a flag read."""
    holders = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            function = node.value.func
            if isinstance(function, ast.Attribute) and function.attr.startswith("DEFINE"):
                holders |= {target.id for target in node.targets if isinstance(target, ast.Name)}
    return holders


def flag_reads_outside_main(path):
    """['path:line in function'] for each `HOLDER.value` or `FLAGS.name` read outside a binary's main."""
    tree = ast.parse(path.read_text(), str(path))
    holders = _flag_holders(tree)
    found = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            inside = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Attribute) and inside not in MAIN_FUNCTIONS:
                owner = child.value
                holder_read = isinstance(owner, ast.Name) and owner.id in holders and child.attr == "value"
                # FLAGS.xi or flags.FLAGS.xi; passing the FLAGS object itself (to a converter, a parser) is fine.
                flags_read = (isinstance(owner, ast.Name) and owner.id == "FLAGS") or (
                    isinstance(owner, ast.Attribute) and owner.attr == "FLAGS"
                )
                if holder_read or flags_read:
                    found.append(f"{path.relative_to(ROOT)}:{child.lineno} in {inside or 'module level'}")
            visit(child, inside)

    visit(tree, None)
    return found


def test_flags_are_read_only_in_a_binarys_main_or_a_flags_module():
    offences = [
        offence
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if not path.name.endswith("_flags.py")
        for offence in flag_reads_outside_main(path)
    ]
    assert offences == [], "read these flags in main and pass the values:\n" + "\n".join(offences)


def test_the_check_finds_a_library_function_that_reads_a_flag(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    source = tmp_path / "lib.py"
    source.write_text(
        "from absl import flags\n_XI = flags.DEFINE_float('xi', 1.0, '')\n"
        "def train():\n    return _XI.value\n"
        "def _main(argv):\n    return _XI.value, flags.FLAGS.xi\n"
        "def helper():\n    return flags.FLAGS.xi, convert(flags.FLAGS)\n"
    )
    assert flag_reads_outside_main(source) == ["lib.py:4 in train", "lib.py:8 in helper"]


def test_a_module_over_300_lines_says_why_in_its_docstring():
    """Issue #33's rule, over every package and bench/ (issue #51): a long module is split by job, or its
    docstring says why not."""
    unexplained = []
    for package in (*PACKAGES, "bench"):
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text()
            if text.count("\n") > 300 and "Long (over 300 lines) because" not in (
                ast.get_docstring(ast.parse(text)) or ""
            ):
                unexplained.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
    assert unexplained == []


# nag_tf's layers, lowest first (nag_tf/__init__.py draws them): a module may import its own layer and
# those before it, never one after it. The binaries (train, evaluate, harden) sit above all of them.
LAYERS = (
    {"choices", "errors", "signals", "flags_util", "export_metadata", "seeds", "records", "record_flags"},
    {"core"},
    {"inputs", "pretrained"},
    {"evaluation"},
    {"training", "baselines"},
    {"methods"},
    {"comparison", "hardening", "defence"},
    {"api"},
)


def _layer_of(name):
    """The layer index of nag_tf's top-level name (a sub-package or module), None for a binary."""
    return next((i for i, layer in enumerate(LAYERS) if name in layer), None)


def _nag_tf_imports(path):
    """[(line, the top-level nag_tf name it imports)] for every import in the file, also inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "nag_tf":
            parts = node.module.split(".")
            names = [parts[1]] if len(parts) > 1 else [alias.name for alias in node.names]
            found += [(node.lineno, name) for name in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split(".")[1]) for a in node.names if a.name.startswith("nag_tf.")]
    return found


def _layer_violations(root):
    """['path:line imports NAME (layer j above i)'] for imports that reach up the layers."""
    violations = []
    for path in sorted(root.rglob("*.py")):
        own = _layer_of(path.relative_to(root).parts[0].removesuffix(".py"))
        if own is None or 'if __name__ == "__main__":' in path.read_text():
            continue  # a binary (nag_tf/baselines/sga.py too) sits above every layer
        for line, name in _nag_tf_imports(path):
            theirs = _layer_of(name)
            if theirs is not None and theirs > own:
                violations.append(f"{path.relative_to(root.parent)}:{line} imports {name} (layer {theirs} > {own})")
    return violations


def test_every_nag_tf_module_belongs_to_a_layer_or_is_a_binary():
    binaries = {
        "train",
        "evaluate",
        "harden",
        "compare",
        "sets",
        "harden_compare",
        "defend",
        "flag_reference",
        "__init__",
    }
    names = {p.name.removesuffix(".py") for p in (ROOT / "nag_tf").iterdir() if p.suffix == ".py" or p.is_dir()}
    names -= {"__pycache__", "configs", "demo_data"}
    assert {n for n in names if _layer_of(n) is None} == binaries


def test_no_module_imports_a_layer_above_its_own():
    assert _layer_violations(ROOT / "nag_tf") == []


def test_the_layer_check_finds_an_import_reaching_up(tmp_path):
    (tmp_path / "nag_tf" / "core").mkdir(parents=True)
    (tmp_path / "nag_tf" / "core" / "model.py").write_text(
        "def f():\n    from nag_tf.training import train_lib\n    from nag_tf import errors\n"
    )
    assert _layer_violations(tmp_path / "nag_tf") == ["nag_tf/core/model.py:2 imports training (layer 4 > 1)"]


def _bazel_test_lists(build_text):
    """(files of the default targets, files of the slow targets) named in BUILD."""
    default = build_text.split("DEFAULT_TESTS = [", 1)[1].split("\n]\n", 1)[0]
    slow = build_text.split("SLOW_TESTS = [", 1)[1].split("\n]\n", 1)[0]
    return set(re.findall(r'\("([\w/]+)", "', default)), set(re.findall(r'^    "([\w/]+)",$', slow, re.M))


def test_bazel_has_a_target_for_every_test_file_and_its_slow_variants():
    """Issue #32: `bazel test //:fast_tests` runs every default test, //:slow_tests every slow one."""
    default, slow = _bazel_test_lists((ROOT / "BUILD").read_text())
    files = {p.relative_to(ROOT / "tests").with_suffix("").as_posix(): p for p in (ROOT / "tests").rglob("test_*.py")}
    with_slow = {name for name, path in files.items() if re.search(r"pytest\.mark\.slow\b", path.read_text())}
    only_slow_or_wheel = {"test_harden_compare", "test_wheel"}
    assert default == set(files) - only_slow_or_wheel
    assert slow == with_slow


# --- Import cycles (issue #51): none anywhere, function-local imports included ----------------------------


def _module_name(path, root):
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph(root, packages=PACKAGES):
    """{module: {modules of our packages it imports}}, every import in the file (inside functions too);
    `from package import module` counts as importing the module where one of that name exists."""
    paths = {_module_name(path, root): path for package in packages for path in (root / package).rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                candidates = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            found |= {c for c in candidates if c in paths and c != name and not name.startswith(c + ".")}
        graph[name] = found
    return graph


def import_cycles(root, packages=PACKAGES):
    """Each import cycle once, as [a, b, ..., a] (Tarjan's strongly connected components, then one cycle a
    component); a package's __init__ importing its own modules is no cycle (Python imports it first)."""
    graph = _import_graph(root, packages)
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for child in graph[node]:
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in on_stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_no_module_takes_part_in_an_import_cycle():
    assert import_cycles(ROOT) == []


def test_the_cycle_check_finds_a_planted_cycle(tmp_path):
    (tmp_path / "nag_tf" / "core").mkdir(parents=True)
    (tmp_path / "nag_tf" / "__init__.py").write_text("")
    (tmp_path / "nag_tf" / "core" / "__init__.py").write_text("")
    (tmp_path / "nag_tf" / "core" / "a.py").write_text("from nag_tf.core import b\n")
    (tmp_path / "nag_tf" / "core" / "b.py").write_text("def f():\n    import nag_tf.core.a\n")
    (tmp_path / "nag_tf" / "core" / "c.py").write_text("from nag_tf.core import a\n")
    assert import_cycles(tmp_path, ("nag_tf",)) == [["nag_tf.core.a", "nag_tf.core.b"]]
