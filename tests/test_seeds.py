"""Every random stream of a run comes from nag_tf.seeds.derive by name, and no two share a key."""

import ast
import pathlib

import numpy as np
import pytest

from nag_tf import seeds
from nag_tf.errors import NAGError
from nag_tf.inputs import batches

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_streams_of_one_run_never_share_a_key():
    for seed in range(200):
        keys = [seeds.derive(seed, name) for name in seeds.STREAMS]
        keys += [seeds.derive(seed, "set_run", k, i) for k in (1, 5, 10) for i in range(k)]
        assert len(set(keys)) == len(keys), seed
        assert all(0 <= key < 2**31 for key in keys)


def test_a_stream_is_the_same_function_of_the_seed_everywhere():
    # sha256 of "training_order/0", first four bytes little-endian, 31 bits: no per-process salt, no word size.
    assert seeds.derive(0, "training_order") == seeds.derive(np.int64(0), "training_order") == 1054551137
    assert seeds.derive(7, "training_z") == 979894091
    assert seeds.derive(0, "training_order") != seeds.derive(1, "training_order")
    assert seeds.derive(3, "set_run", 5, 1) != seeds.derive(3, "set_run", 1, 5)


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True, None])
def test_a_bad_seed_is_refused_by_name(seed):
    with pytest.raises(NAGError, match="non-negative integer"):
        seeds.derive(seed, "training_order")


def test_an_unknown_stream_is_refused_with_the_fix():
    with pytest.raises(NAGError, match="add it to nag_tf.seeds.STREAMS"):
        seeds.derive(0, "training_zz")


def test_training_and_selection_draw_different_z():
    """They shared the key [seed + 1, n] before: selection photo n met training step n's z."""
    images = np.zeros([8, 4, 4, 3], np.uint8)
    labels = np.arange(8, dtype=np.int32)
    tiny_cached = batches.CachedImages(images=images, clean_labels=labels, true_labels=labels, paths=[], skipped=0)
    train = next(iter(batches.training_batches(tiny_cached, 4, seed=0, latent_dim=3)))[0]
    selection = next(iter(batches.evaluation_batches(tiny_cached, 4, latent_dim=3, seed=0)))[0]
    assert not np.allclose(train["z"].numpy()[0], selection["z"].numpy()[0])
    assert not np.array_equal(train["shuffle_seed"].numpy()[0], selection["shuffle_seed"].numpy()[0])


def _seed_plus_constant(tree):
    """Lines where a name or attribute called *seed* is added to an integer literal."""

    def seedish(node):
        name = getattr(node, "id", None) or getattr(node, "attr", None) or ""
        return name.endswith("seed")

    def literal(node):
        return isinstance(node, ast.Constant) and isinstance(node.value, int)

    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Add)
        and ((seedish(node.left) and literal(node.right)) or (literal(node.left) and seedish(node.right)))
    ]


def test_no_stream_is_made_by_adding_a_constant_to_a_seed():
    found = []
    for folder in ("nag_tf", "export", "keras_apps"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            found += [f"{path.relative_to(ROOT)}:{line}" for line in _seed_plus_constant(ast.parse(path.read_text()))]
    assert found == [], "derive the stream with nag_tf.seeds.derive(seed, name) instead"
    assert _seed_plus_constant(ast.parse("key = config.seed + 3")) == [1]  # the check sees what it looks for
