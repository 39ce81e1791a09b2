"""The docs cannot rot silently: every `python -m MODULE` and `python bench/X.py` command in README.md and
docs/ names a module that exists, and every `--flag` it passes is defined by that command.

Flags are found in the source, not by importing the binaries (they all define flags on absl's one
global FLAGS, and several define the same names): a command's flags are those its own file defines
plus those of the flag modules it uses (the training flags, the baselines' shared flags, bench's).
"""

import functools
import glob
import importlib.util
import os
import re

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DOCS = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True))
# Defined by absl itself for every binary.
ABSL_FLAGS = {"flagfile", "help", "helpfull", "helpshort", "undefok", "only_check_args"}
# Files whose flags a command also takes when its own file uses them (by the name it imports).
SHARED = {
    "define_train_flags": "nag_tf/training/train_flags.py",
    "define_harden_flags": "nag_tf/harden.py",
    "from nag_tf.methods import baseline_flags": "nag_tf/methods/baseline_flags.py",
    "from nag_tf.comparison import comparison_flags": "nag_tf/comparison/comparison_flags.py",
    "import _common": "bench/_common.py",
}
_DEFINE = re.compile(r"DEFINE_(?:string|integer|float|bool|boolean|enum|list|multi_string|multi_integer)\(\s*\"(\w+)\"")
# A command runs to the end of its line (continuations joined first) or to a pipe, ;, && or a backtick.
_COMMAND = re.compile(r"python3? (?:-m ([\w.]+)|(bench/\w+\.py))([^\n|;&`]*)")


def _commands():
    """(doc, module or script, [flag names]) for every command in the docs (backslash-continued lines joined);
    the dated records in docs/experiments keep the commands of the commit they name, so they are not checked."""
    found = []
    for doc in (d for d in DOCS if os.sep + "experiments" + os.sep not in d):
        with open(doc, encoding="utf-8") as handle:
            text = re.sub(r"\\\n\s*", " ", handle.read())
        for match in _COMMAND.finditer(text):
            module, script, rest = match.group(1), match.group(2), match.group(3) or ""
            # --nag_set=--learning_rate=... passes a flag on to another command: only the outer one counts.
            flags = re.findall(r"(?<![\w=-])--([a-z]\w*)", rest)
            found.append((os.path.relpath(doc, ROOT), module or script, flags))
    return found


def _source_file(command):
    if command.endswith(".py"):
        return os.path.join(ROOT, command)
    spec = importlib.util.find_spec(command)
    return spec.origin if spec is not None else None


def _record_flags(source):
    """The flags a binary defines from settings records (nag_tf.record_flags): an options record's fields
    (evaluate), a baseline binary's record's fields, a comparison's each baseline's fields with its prefix."""
    import dataclasses

    from nag_tf.methods import registry

    names = set()
    for record in re.findall(r"record_flags\.define_settings_flags\((\w+)\(\)\)", source):
        module = re.search(rf"from ([\w.]+) import {record}\b", source).group(1)
        names |= {field.name for field in dataclasses.fields(getattr(importlib.import_module(module), record))}
    for method in re.findall(r'baseline_flags\.define_flags\("(\w+)"\)', source):
        names |= {field.name for field in dataclasses.fields(registry.module_of(method).settings_type())}
    if "comparison_flags.define_comparison_flags(" in source:
        for method in registry.METHODS:
            if method != "nag":
                fields = dataclasses.fields(registry.module_of(method).settings_type())
                names |= {f"{method}_{field.name}" for field in fields if field.name not in ("xi", "norm", "clip")}
    return names


def _defined_flags(path):
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    names = set(_DEFINE.findall(source)) | _record_flags(source)
    for usage, shared in SHARED.items():
        shared_path = os.path.join(ROOT, shared)
        if usage in source and os.path.abspath(path) != shared_path:
            names |= _defined_flags(shared_path)
    return names


COMMANDS = _commands()
OURS = sorted({c for _, c, _ in COMMANDS if c.startswith(("nag_tf", "export", "keras_apps", "bench/"))})


def test_the_docs_name_commands():
    assert {"nag_tf.train", "nag_tf.evaluate", "export.saved_model", "export.serve"} <= set(OURS)


@pytest.mark.parametrize("command", OURS)
def test_every_documented_command_exists_and_takes_its_flags(command):
    path = _source_file(command)
    assert path is not None and os.path.exists(path), f"{command} is named in the docs but does not exist"
    defined = _defined_flags(path) | ABSL_FLAGS
    unknown = {}
    for doc, name, flags in COMMANDS:
        if name != command:
            continue
        for flag in flags:
            # absl booleans also take --noNAME.
            if flag not in defined and not (flag.startswith("no") and flag[2:] in defined):
                unknown.setdefault(flag, set()).add(doc)
    assert not unknown, f"{command}: flags named in the docs but not defined: {unknown}"


# --- Links, anchors, flagfiles and the flag reference (issue #53) ---------------------------------------

# Where relative links are checked: every page a reader can follow a link from.
LINKED = DOCS + sorted(glob.glob(os.path.join(ROOT, "nag_tf", "pretrained", "*", "MODEL_CARD.md")))
# Pages whose flagfile names must exist today (the dated records in docs/experiments keep their history).
CURRENT = [doc for doc in LINKED if os.sep + "experiments" + os.sep not in doc]
_FENCE = re.compile(r"^```.*?^```", re.M | re.S)
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
_FLAGFILE = re.compile(r"(?<![\w/.-])([\w{},-]+)\.flags\b")


def _prose(path):
    """A page's text without its fenced code blocks (a link or heading inside one is not one)."""
    with open(path, encoding="utf-8") as handle:
        return _FENCE.sub("", handle.read())


def anchor_slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@functools.cache
def page_anchors(path):
    """Every #anchor a page has: one per heading, repeats numbered -1, -2, ... as GitHub does."""
    anchors, seen = set(), {}
    for heading in _HEADING.findall(_prose(path)):
        slug = anchor_slug(heading)
        anchors.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def link_problem(path, anchor):
    """Why a link to `path`#`anchor` does not resolve ('no such file', 'no heading with that anchor'), or None."""
    if not os.path.exists(path):
        return "no such file"
    if anchor and (not path.endswith(".md") or anchor not in page_anchors(path)):
        return "no heading with that anchor"
    return None


def broken_links(pages):
    """['page: target (why)'] for each relative link whose file, or whose #anchor's heading, is missing."""
    broken = []
    for page in pages:
        for target in _LINK.findall(_prose(page)):
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            problem = link_problem(
                os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page, anchor
            )
            if problem:
                broken.append(f"{os.path.relpath(page, ROOT)}: {target} ({problem})")
    return broken


CONFIGS = os.path.join(ROOT, "nag_tf", "configs")


def unknown_flagfiles(pages, configs=CONFIGS):
    """['page: NAME.flags'] for each flagfile a page names that nag_tf/configs lacks ({a,b}.flags expanded;
    NAME.flags in capitals is a placeholder)."""
    unknown = []
    for page in pages:
        for stem in _FLAGFILE.findall(_prose(page)):
            names = re.match(r"\{(.*)\}$", stem)
            for name in names.group(1).split(",") if names else [stem]:
                if not name.isupper() and not os.path.exists(os.path.join(configs, name + ".flags")):
                    unknown.append(f"{os.path.relpath(page, ROOT)}: {name}.flags")
    return unknown


def test_every_relative_link_and_anchor_resolves():
    assert broken_links(LINKED) == []


def test_the_records_a_flagfile_names_exist():
    """Flagfile comments point to their records (docs/...md, with an #anchor or not): those must resolve."""
    broken = []
    for flagfile in sorted(glob.glob(os.path.join(CONFIGS, "*.flags"))):
        with open(flagfile, encoding="utf-8") as handle:
            for target in re.findall(r"\b(docs/[\w/.-]+\.md(?:#[\w-]+)?)", handle.read()):
                path, _, anchor = target.partition("#")
                problem = link_problem(os.path.join(ROOT, path), anchor)
                if problem:
                    broken.append(f"{os.path.basename(flagfile)}: {target} ({problem})")
    assert broken == []


def test_every_flagfile_the_docs_name_exists():
    assert unknown_flagfiles(CURRENT) == []


def test_section_references_are_links():
    """A quoted section name ('see "Head-to-head"') cannot be checked and rots: write it as a link."""
    quoted = [
        f"{os.path.relpath(page, ROOT)}: {match.group(0)}"
        for page in CURRENT
        for match in re.finditer(
            r'(?:\bsee|README|below|above)[ ,(]*"[A-Z][^"]{2,60}"|"[A-Z][^"]{2,60}"\)? (?:below|above)\b', _prose(page)
        )
    ]
    assert quoted == []


def test_the_flag_reference_is_up_to_date():
    from nag_tf import flag_reference

    with open(os.path.join(ROOT, "docs", "flags.md"), encoding="utf-8") as handle:
        written = handle.read()
    assert written == flag_reference.reference_markdown(), (
        "docs/flags.md is out of date: python -m nag_tf.flag_reference > docs/flags.md"
    )


def test_the_checks_find_a_broken_anchor_a_missing_file_and_an_unknown_flagfile(tmp_path):
    (tmp_path / "other.md").write_text("# Title\n\n## Sets of perturbations, K = 5\n\n## Title\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#sets-of-perturbations-k--5) [ok](other.md#title-1) [ok](#here)\n"
        "[bad](other.md#head-to-head) [gone](missing.md) [web](https://example.org/#x)\n"
        "```\n[in code](nowhere.md)\n```\n"
        "## Here\n\nRun `--flagfile=quickstart.flags` or `--flagfile=NAME.flags`, not nosuch.flags.\n"
    )
    assert broken_links([str(page)]) == [
        f"{os.path.relpath(page, ROOT)}: other.md#head-to-head (no heading with that anchor)",
        f"{os.path.relpath(page, ROOT)}: missing.md (no such file)",
    ]
    assert unknown_flagfiles([str(page)]) == [f"{os.path.relpath(page, ROOT)}: nosuch.flags"]


def test_the_reference_check_sees_a_changed_default(monkeypatch):
    from nag_tf import flag_reference

    real = flag_reference.binary_flags
    changed = lambda module: [dict(f, default="7") if f["name"] == "xi" else f for f in real(module)]  # noqa: E731
    monkeypatch.setattr(flag_reference, "binary_flags", changed)
    with open(os.path.join(ROOT, "docs", "flags.md"), encoding="utf-8") as handle:
        assert handle.read() != flag_reference.reference_markdown()
