"""The built-in world on hostile input: make_world's sizes, the renderer, captions, the
field guide, species tables, one-attribute hard negatives and training checkpoints
written by someone else.

Every case was BAD before the fix (its comment says what happened): a traceback from
deep inside numpy, a silent wrong result, or a memory blow-up. Valid input still gives
the same world, bit for bit (tests/world/test_world_dataset.py and the shipped models'
tests pin it).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bottlekit.world import make_world
from bottlekit.world.captions import concept_phrases, make_captions, make_full_captions
from bottlekit.world.dataset import options_to_concepts, split_rng
from bottlekit.world.field_guide import make_corpus
from bottlekit.world.hard_negatives import (
    OneAttributeNeighbours,
    compose_batch,
    concepts_to_options,
)
from bottlekit.world.render import Layout, render_birds
from bottlekit.world.species import (
    CLASS_NAMES,
    CONCEPT_NAMES,
    GROUPS,
    class_concept_matrix,
    option_probabilities,
)


@pytest.fixture(scope="module")
def world():
    return make_world(30, "test", 1, return_masks=False)


def _rng():
    return np.random.default_rng(0)


# ------------------------------------------------------------------ make_world's size
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        # before: np.arange(10**9) and a 7.5 GiB permutation were allocated, then numpy's
        # MemoryError "Unable to allocate ..." (or, with overcommit, the machine swapped)
        ({"n": 10**9}, r"make_world: n=1000000000, image_size=64, return_masks=True asks"),
        ({"n": 10**12, "return_masks": False}, r"n=1000000000000, .* for .* of images \(3 "),
        # before: "Maximum allowed dimension exceeded" from numpy
        ({"n": 2**63}, r"make_world: n=9223372036854775808, image_size=64"),
        # before: numpy's "Unable to allocate ..." (112 GiB already for image_size=10**5)
        ({"n": 4, "image_size": 10**7}, r"make_world: n=4, image_size=10000000, .* more than"),
    ],
)
def test_a_world_larger_than_memory_is_refused_before_allocating(kwargs, message):
    with pytest.raises(ValueError, match=message + r".*this machine's .* of memory"):
        make_world(**kwargs)


def test_the_memory_to_draw_the_images_is_counted(monkeypatch):
    # 256 images of 256 px are 48 MiB, but render_birds draws them at once into images and
    # masks of its own (9 bytes a pixel) with about 44 bytes a pixel of temporary arrays
    # (0.8 GiB); on a machine of 400 MiB they were drawn anyway (at 1400 px and more, the
    # drawing outgrew a 24 GiB machine: swap or the kernel's OOM killer)
    monkeypatch.setattr("bottlekit.world.render.physical_memory", lambda: 400 * 2**20)
    message = (
        r"make_world: n=256, image_size=256, return_masks=False asks for 48\.0 MiB of images "
        r"\(3 bytes a pixel\) and 848\.0 MiB to draw them \(53 bytes a pixel of the 256 "
        r"images drawn at once\), more than this machine's 400\.0 MiB of memory; expected at "
        r"most 114 images of this size"
    )
    with pytest.raises(ValueError, match=message):
        make_world(256, "val", image_size=256, return_masks=False)
    opts = np.zeros((256, len(GROUPS)), dtype=np.int64)
    message = (
        r"render_birds: 256 rows of options, size=256 asks for 144\.0 MiB of images and part "
        r"masks \(9 bytes a pixel\) and 704\.0 MiB to draw them \(44 bytes a pixel of "
        r"the 256 images drawn at once\), .* expected at most 120 images"
    )
    with pytest.raises(ValueError, match=message):
        render_birds(opts, _rng(), size=256)
    assert make_world(114, "val", image_size=256, return_masks=False).images.shape[0] == 114
    assert render_birds(opts[:120], _rng(), size=256)[0].shape[0] == 120


def test_a_world_that_fits_is_drawn_as_before():
    w = make_world(3, "val", 2, image_size=65, return_masks=True)
    assert w.images.shape == (3, 65, 65, 3) and w.part_masks.shape == (3, 6, 65, 65)
    # the same birds as at the default 64 px, each pixel in exactly one part, each part
    # covering the same share of the image to a pixel's rounding
    small = make_world(3, "val", 2, return_masks=True)
    np.testing.assert_array_equal(w.labels, small.labels)
    np.testing.assert_array_equal(w.concept_labels, small.concept_labels)
    np.testing.assert_array_equal(w.part_masks.sum(1), 1)
    np.testing.assert_allclose(
        w.part_masks.mean((0, 2, 3)), small.part_masks.mean((0, 2, 3)), atol=0.01
    )


# ------------------------------------------------------------------ World fields
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        # before: accepted; w.subset([5]) then failed with "list index out of range"
        ("captions", ["a"], r"captions: expected a list of 30 str \(one per image\), got list"),
        # before: accepted (captions of ints)
        ("captions", list(range(30)), r"captions: item 0 has type int; expected str"),
        # before: accepted, a corpus of characters
        ("corpus", "abc", r"corpus: expected a list of str, got str"),
        ("corpus_subjects", ["x"], r"corpus_subjects: expected a list of 92 species names"),
        # before: accepted silently
        ("group_of_concept", np.zeros(3), r"group_of_concept: expected 31 ints in 0\.\.13"),
        ("typical_background", np.array([99]), r"typical_background: expected 24 ints in 0\."),
        ("seed", "x", r"seed: expected an int >= 0, got 'x'"),
    ],
)
def test_world_fields_are_checked(world, field, value, message):
    fields = {f.name: getattr(world, f.name) for f in dataclasses.fields(world) if f.init}
    with pytest.raises(ValueError, match=message):
        type(world)(**{**fields, field: value})


# ------------------------------------------------------------------ captions
def _caption_args(world, **changes):
    args = {
        "labels": world.labels,
        "concept_labels": world.concept_labels,
        "class_names": CLASS_NAMES,
        "rng": _rng(),
    }
    return args | changes


def _labels_with(world, value):
    out = world.concept_labels.astype(float).copy()
    out[0, 0] = value
    return out


BAD_CAPTION_INPUTS = [
    # before: "tuple index out of range" from inside the caption loop
    ({"labels": np.full(30, 99)}, ValueError, r"labels: expected class indices in 0\.\.23"),
    # before: -1 silently named the last species
    ({"labels": np.full(30, -1)}, ValueError, r"labels: expected class indices in 0\.\.23 .*-1"),
    # before: 0.7 was truncated silently
    ({"labels": np.arange(30) % 24 + 0.7}, TypeError, r"labels: expected a 1-D array of int"),
    # before: "only 0-dimensional arrays can be converted to Python scalars"
    # a 2-D array of ints is the right type with a wrong shape: ValueError (TypeError before)
    ({"labels": np.zeros((30, 1), int)}, ValueError, r"labels: expected a 1-D array of int"),
    # before: "list index out of range"
    ({"class_names": ["a"]}, ValueError, r"labels: expected class indices in 0\.\.0"),
    # before: the letters of the string were the species names
    ({"class_names": "abcdefghijklmnopqrstuvwxyz"}, TypeError, r"class_names: expected a list"),
    # before: NaN counted as drawn, 2 and -1 too: captions named absent concepts
    ("nan", ValueError, r"concept_labels: expected 0/1 or boolean .*, got nan"),
    ("two", ValueError, r"concept_labels: expected 0/1 or boolean .*, got 2\.0"),
    ("soft", ValueError, r"concept_labels: expected 0/1 or boolean .*, got 0\.5"),
    # before: two body colours and all five backgrounds passed, one of them was named
    ("all", ValueError, r"more than one concept of group 'body'"),
    # before: "'NoneType' object has no attribute 'random'"
    ({"rng": None}, TypeError, r"rng: expected a numpy\.random\.Generator"),
    ({"rng": 0}, TypeError, r"rng: expected a numpy\.random\.Generator"),
    # before: "'RandomState' object has no attribute 'integers'"
    ({"rng": np.random.RandomState(0)}, TypeError, r"rng: expected a numpy\.random\.Generator"),
    # before: "'<=' not supported between instances of 'float' and 'str'"
    ({"p_species": "0.5"}, ValueError, r"p_species='0\.5'; expected a probability in \[0, 1\]"),
    ({"p_species": None}, ValueError, r"p_species=None; expected a probability"),
]


def _resolve(world, change):
    if change == "nan":
        return {"concept_labels": _labels_with(world, np.nan)}
    if change == "two":
        return {"concept_labels": _labels_with(world, 2.0)}
    if change == "soft":
        return {"concept_labels": world.concept_labels * 0.5}
    if change == "all":
        return {"concept_labels": np.ones_like(world.concept_labels)}
    return change


@pytest.mark.parametrize("caption", [make_captions, make_full_captions])
@pytest.mark.parametrize(("change", "error", "message"), BAD_CAPTION_INPUTS)
def test_caption_inputs_are_checked(world, caption, change, error, message):
    with pytest.raises(error, match=message):
        caption(**_caption_args(world, **_resolve(world, change)))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        # before: numpy's "low >= high" from rng.integers
        (0, r"max_concepts: expected an int >= 1 and <= 31, got 0"),
        (-3, r"max_concepts: expected an int >= 1 and <= 31, got -3"),
        # before: numpy's "high is out of bounds for int64"
        (10**20, r"max_concepts: expected an int >= 1 and <= 31, got 100000000000000000000"),
        # before: 2.5 and True were taken as numbers of concepts
        (2.5, r"max_concepts: expected an int >= 1 and <= 31, got 2\.5"),
        (True, r"max_concepts: expected an int >= 1 and <= 31, got True"),
    ],
)
def test_make_captions_max_concepts_is_checked(world, value, message):
    with pytest.raises(ValueError, match=message):
        make_captions(**_caption_args(world), max_concepts=value)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        # before: "'int' object is not callable" at the first caption with the species
        ({"count_tokens": 5}, TypeError, r"count_tokens: expected None or a function"),
        # before: "'<=' not supported between instances of 'str' and 'int'"
        ({"count_tokens": lambda s: "3"}, TypeError, r"count_tokens: expected it to return an"),
        # before: NaN tokens compared False: the species was silently left out of every caption
        ({"count_tokens": lambda s: float("nan")}, TypeError, r"count_tokens: .*got nan"),
        # before: -1 and NaN silently left the species out of every caption
        ({"count_tokens": len, "max_tokens": -1}, ValueError, r"max_tokens: expected an int >= 1"),
        ({"count_tokens": len, "max_tokens": np.nan}, ValueError, r"max_tokens: .*got nan"),
        # before: "'<=' not supported between instances of 'int' and 'str'"
        ({"count_tokens": len, "max_tokens": "30"}, ValueError, r"max_tokens: .*got '30'"),
    ],
)
def test_full_caption_token_budget_is_checked(world, kwargs, error, message):
    with pytest.raises(error, match=message):
        make_full_captions(**_caption_args(world), p_species=1.0, **kwargs)


@pytest.mark.parametrize(
    ("concept", "error"), [("", ValueError), (5, TypeError), ("xyz", ValueError)]
)
def test_concept_phrases_of_an_unknown_concept_is_refused(concept, error):
    # before: "" gave "list index out of range", 5 "'int' object has no attribute 'split'",
    # "xyz" silently ("xyz",); a non-str is a TypeError since check_choice
    with pytest.raises(error, match=r"concept: expected one of the world's concepts"):
        concept_phrases(concept)


# ------------------------------------------------------------------ render
def _options(n=2):
    return np.zeros((n, len(GROUPS)), dtype=np.int64)


def _layout(n=1, **changes):
    values = {"cx": [30.0] * n, "cy": [30.0] * n, "scale": [1.0] * n, "flip": [False] * n}
    values |= changes
    return Layout(**{k: np.asarray(v) for k, v in values.items()})


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        # before: numpy's "index 51 is out of bounds for axis 0 with size 5"
        ({"options": _options() + 50}, ValueError, r"options: column 0 \(group 'body'\) holds 50"),
        # before: -1 silently drew the last option of every group
        ({"options": _options() - 1}, ValueError, r"options: column 0 .* holds -1; expected"),
        # before: "arrays used as indices must be of integer (or boolean) type"
        ({"options": _options() + 0.5}, TypeError, r"options: expected integer option indices"),
        # before: "unsupported operand type(s) for -: 'str' and 'int'"
        ({"size": "64"}, TypeError, r"size='64'; expected an int >= 64"),
        # before: "'float' object cannot be interpreted as an integer" after the drawing
        ({"size": 64.9}, TypeError, r"size=64\.9; expected an int >= 64"),
        # before: numpy's "Unable to allocate ..." (7.28 TiB already for size=10**6)
        ({"size": 10**7}, ValueError, r"render_birds: 2 rows of options, size=10000000 asks"),
        # before: "'NoneType' object has no attribute 'uniform'"
        ({"rng": None}, TypeError, r"rng: expected a numpy\.random\.Generator"),
        # before: a layout of one bird was broadcast silently to both rows
        ({"layout": _layout(1)}, ValueError, r"layout\.cx: expected shape \(2,\)"),
        # before: "'dict' object has no attribute 'scale'"
        ({"layout": {"cx": 1}}, TypeError, r"layout: expected a bottlekit\.world\.render\.Lay"),
    ],
)
def test_render_inputs_are_checked(kwargs, error, message):
    args = {"options": _options(), "rng": _rng()} | kwargs
    with pytest.raises(error, match=message):
        render_birds(**args)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        # before: both gave an image with no bird at all (every pixel background), silently
        ({"cx": [np.nan]}, r"layout\.cx: contains NaN or inf"),
        ({"scale": [0.0]}, r"layout\.scale: expected values > 0"),
    ],
)
def test_a_layout_that_draws_no_bird_is_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        render_birds(_options(1), _rng(), layout=_layout(1, **changes))


def test_options_to_concepts_refuses_options_out_of_range():
    # before: option 50 of every group gave an image with no concept at all, silently
    with pytest.raises(ValueError, match=r"options: column 0 \(group 'body'\) holds 50"):
        options_to_concepts(np.full((1, len(GROUPS)), 50))


def test_split_rng_names_a_bad_split():
    # before: "tuple.index(x): x not in tuple"
    # the message is make_world's ("split='dev'; expected one of ..." before)
    with pytest.raises(ValueError, match=r"split: expected one of \('train', .*, got 'dev'$"):
        split_rng(0, "dev")


# ------------------------------------------------------------------ species, field guide
@pytest.mark.parametrize(
    ("value", "message"),
    [
        # before: NaN gave a matrix of NaN, 2.0 one with negative probabilities, silently
        (np.nan, r"got nan"),
        (2.0, r"got 2\.0"),
        (-1.0, r"got -1\.0"),
        # before: "unsupported operand type(s) for -: 'float' and 'str'"
        ("0.5", r"got '0\.5'"),
    ],
)
@pytest.mark.parametrize("table", [class_concept_matrix, option_probabilities])
def test_species_tables_refuse_a_background_probability_out_of_range(table, value, message):
    with pytest.raises(ValueError, match=r"p_typical_background: expected a finite number >= 0 "):
        table(p_typical_background=value)
    with pytest.raises(ValueError, match=message):
        table(p_typical_background=value)


@pytest.mark.parametrize(
    ("profiles", "message"),
    [
        # before: "tuple index out of range"
        ((("x",),), r"profiles: expected tuples of 16 entries"),
        # before: "tuple.index(x): x not in tuple"
        ((("x", "purple", *["plain"] * 13, ()),), r"species 'x' has body='purple'; expected one"),
    ],
)
def test_species_profiles_are_checked(profiles, message):
    with pytest.raises(ValueError, match=message):
        class_concept_matrix(profiles)


@pytest.mark.parametrize(
    ("seed", "message"),
    [
        # before: numpy's "expected non-negative integer"
        (-1, r"seed: expected an int >= 0, got -1"),
        # before: 1.5 was truncated to 1 and "3" parsed, silently
        (1.5, r"seed: expected an int >= 0, got 1\.5"),
        ("3", r"seed: expected an int >= 0, got '3'"),
        # before: True seeded with 1
        (True, r"seed: expected an int >= 0, got True"),
        # before: "int() argument must be ... not 'NoneType'"
        (None, r"seed: expected an int >= 0, got None"),
    ],
)
def test_make_corpus_seed_is_checked(seed, message):
    with pytest.raises(ValueError, match=message):
        make_corpus(seed)


# ------------------------------------------------------------------ hard negatives
@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        # before: NaN and -1 were read as "drawn" (option 0 of every group), silently
        (np.nan, ValueError, r"concept_labels: expected 0/1 or boolean values .*got nan"),
        (-1.0, ValueError, r"concept_labels: expected 0/1 or boolean values .*got -1\.0"),
        # before: "the resolved dtypes are not compatible with add.reduce"
        ("1", TypeError, r"concept_labels: expected a numeric array, got text"),
        # before: complex labels passed as their real part
        (1 + 0j, TypeError, r"concept_labels: expected real numbers, got complex"),
    ],
)
def test_concepts_to_options_refuses_labels_that_are_not_0_or_1(value, error, message):
    labels = np.full((2, len(CONCEPT_NAMES)), value)
    with pytest.raises(error, match=message):
        concepts_to_options(labels)
    with pytest.raises(error, match=message):
        OneAttributeNeighbours(labels)


@pytest.mark.parametrize(
    ("anchors", "rng", "error", "message"),
    [
        # before: numpy's "index 100 is out of bounds for axis 0 with size 30"
        ([100], _rng(), ValueError, r"anchors: expected image indices in 0\.\.29, got .*100"),
        # before: -1 (the last image) gave -1 ("no neighbour") silently
        ([-1], _rng(), ValueError, r"anchors: expected image indices in 0\.\.29, got .*-1"),
        # before: 1.7 was truncated and "1" parsed, silently
        ([1.7], _rng(), TypeError, r"anchors: expected a 1-D array of int, got float64"),
        (np.array(["1"]), _rng(), TypeError, r"anchors: expected a 1-D array of int, got <U1"),
        # before: "len() of unsized object"
        # a scalar int is the right type with a wrong shape: ValueError (TypeError before)
        (3, _rng(), ValueError, r"anchors: expected a 1-D array of int, got 3$"),
        # before: booleans were image indices 0 and 1
        ([True, False], _rng(), TypeError, r"anchors: expected a 1-D array of int, got bool"),
        # before: "'NoneType' object has no attribute 'random'"
        ([1], None, TypeError, r"rng: expected a numpy\.random\.Generator"),
    ],
)
def test_neighbour_draws_check_anchors_and_rng(world, anchors, rng, error, message):
    neighbours = OneAttributeNeighbours(world.concept_labels)
    with pytest.raises(error, match=message):
        neighbours.draw(anchors, rng)


CHUNK, NONE = np.arange(4), np.full(4, -1)


@pytest.mark.parametrize(
    ("chunk", "partners", "n_pairs", "error", "message"),
    [
        # before: "'float' object cannot be interpreted as an integer"
        (CHUNK, NONE, 1.5, ValueError, r"n_pairs=1\.5; expected an int in \[0, 2\]"),
        # before: "'<=' not supported between instances of 'int' and 'str'"
        (CHUNK, NONE, "1", ValueError, r"n_pairs='1'; expected an int in \[0, 2\]"),
        # before: True was one pair
        (CHUNK, NONE, True, ValueError, r"n_pairs=True; expected an int in \[0, 2\]"),
        # before: "index 1 is out of bounds for axis 0 with size 1"
        (CHUNK, [10], 2, ValueError, r"partners: expected 4 entries \(one per image of chunk\)"),
        # before: 10.7 became image 10, silently; NaN "cannot convert float NaN to integer"
        (CHUNK, [10.7, 11.2, 0, 0], 2, TypeError, r"partners: expected a 1-D array of int"),
        (CHUNK, [np.nan, 11, 0, 0], 2, TypeError, r"partners: expected a 1-D array of int"),
        # before: -5 passed as "no partner"
        (CHUNK, [-5, 11, 0, 0], 2, ValueError, r"partners: expected image indices or -1"),
        # before: 0.5, 1.5, ... were truncated to images 0, 1, ...; NaN became -2**63
        ([0.5, 1.5, 2.5, 3.9], NONE, 1, TypeError, r"chunk: expected a 1-D array of int"),
        ([np.nan, 1], [-1, -1], 1, TypeError, r"chunk: expected a 1-D array of int"),
        # before: a negative image index was put in the batch
        ([-3, 1, 2, 3], NONE, 1, ValueError, r"chunk: expected image indices >= 0, got .*-3"),
        # before: the unsigned 2**64 - 1 became image -1
        (
            np.array([2**64 - 1, 1], np.uint64),
            [-1, -1],
            1,
            ValueError,
            # the values out of range are listed (min..max of all values before)
            r"chunk: expected image indices >= 0, got 18446744073709551615$",
        ),
        # before: "unhashable type: 'list'"
        # ints of the wrong shape: ValueError (TypeError before)
        (CHUNK.reshape(2, 2), NONE, 1, ValueError, r"chunk: expected a 1-D array of int"),
    ],
)
def test_compose_batch_checks_its_inputs(chunk, partners, n_pairs, error, message):
    with pytest.raises(error, match=message):
        compose_batch(chunk, partners, n_pairs)


# ------------------------------------------------------------------ checkpoints from others
CFG = dict(
    n_train=1, n_val=1, steps=1, batch_size=1, lr=1e-3, weight_decay=0.0, warmup=0, seed=0,
    p_typical_background=0.2, init=None,
)  # fmt: skip
PROGRESS = dict(
    step=1, epoch=0, next_batch=1, epoch_rng_state={}, losses=[0.5], last_val_zero_shot=None,
    train_seconds=0.0, train_cpu_seconds=0.0, sittings=1,
)  # fmt: skip


def _build():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.AdamW(model.parameters())
    return model, opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)


@pytest.fixture
def checkpoint(tmp_path):
    """A checkpoint of a one-step run of a linear model, as write_checkpoint writes it."""

    from bottlekit.world.checkpoint import write_checkpoint

    model, opt, sched = _trained()
    path = tmp_path / "ck.json"
    write_checkpoint(path, model=model, optimizer=opt, scheduler=sched, meta=_meta())
    return path


def _trained(steps=1, value=1.0):
    """The linear model of :func:`_build`, its optimiser and scheduler after ``steps``
    steps on the input ``value`` (a row of two)."""
    import torch

    model, opt, sched = _build()
    for _ in range(steps):
        model(torch.full((1, 2), value)).sum().backward()
        opt.step()
        sched.step()
    return model, opt, sched


def _meta(progress=PROGRESS):
    """The sidecar fields of a checkpoint of model "m" (written by write_checkpoint)."""
    return dict(
        model="m", model_config={}, config=CFG, progress=progress, world_sha256="0", init=None,
        versions={},
    )  # fmt: skip


def _tensors_path(path):
    import json

    return path.parent / json.loads(path.read_text())["tensors_file"]


def _edit(path, change):
    import json

    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))
    return path


def _retensor(path, change):
    """Replace tensors and record the new file's digest, as a forger would."""
    import hashlib
    import json

    from safetensors.torch import save

    from bottlekit.world.checkpoint import read_checkpoint

    tensors = dict(read_checkpoint(path).tensors)
    change(tensors)
    blob = save(tensors)
    _tensors_path(path).write_bytes(blob)
    meta = json.loads(path.read_text())
    meta["tensors_sha256"] = hashlib.sha256(blob).hexdigest()
    meta["tensors_bytes"] = len(blob)
    path.write_text(json.dumps(meta))
    return path


def _pop(*keys):
    def change(meta):
        for key in keys[:-1]:
            meta = meta[key]
        meta.pop(keys[-1])

    return change


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def change(meta):
        for key in keys[:-1]:
            meta = meta[key]
        meta[keys[-1]] = value

    return change


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # before: RecursionError from inside the json module
        (lambda t: t[:-2] + ', "x": ' + "[" * 10**5 + "]" * 10**5 + "}", r"it nests too deeply"),
        # before: the second "version" silently won over the first
        (lambda t: '{"version": 2, ' + t.strip()[1:], r"key 'version' is listed twice"),
        # before: parsed whole, then refused for another reason (9 MB of "[]," took 224 MB)
        (
            lambda t: t[:-2] + ', "x": [' + "[]," * 2**20 + "[]]}",
            r"it may hold \d+ JSON values \(counted by its .*; at most 1048576 are accepted",
        ),
    ],
)
def test_a_sidecar_that_json_cannot_read_safely_is_refused(checkpoint, text, message):
    from bottlekit.world.checkpoint import CheckpointError, read_checkpoint

    checkpoint.write_text(text(checkpoint.read_text()))
    with pytest.raises(CheckpointError, match=r"ck\.json' is not valid JSON: " + message):
        read_checkpoint(checkpoint)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # before: all four were read back and trained with (a NaN learning rate gave NaN
        # weights at the first step, a NaN in the config was compared as unequal)
        (_set("config", "lr", float("nan")), r"key 'config\.lr' is NaN or infinite"),
        (
            _set("optimizer", "param_groups", 0, "lr", float("nan")),
            r"key 'optimizer\.param_groups\[0\]\.lr' is NaN or infinite",
        ),
        (_set("scheduler", "base_lrs", [float("inf")]), r"'scheduler\.base_lrs\[0\]' is NaN or"),
        (_set("progress", "train_seconds", float("inf")), r"'progress\.train_seconds' is NaN"),
        # before: a negative step, size or count was accepted
        (_set("progress", "step", -5), r"key 'progress\.step' is -5; expected an int >= 0"),
        (_set("tensors_bytes", -1), r"key 'tensors_bytes' is -1; expected an int >= 0"),
        # before: accepted, and carried into the finished run's metadata
        # (val_zero_shot_species_accuracy, train_seconds) as if measured
        (
            _set("progress", "last_val_zero_shot", 1.5),
            r"^checkpoint sidecar key 'progress\.last_val_zero_shot' is 1\.5; expected a "
            r"number in \[0, 1\] or null \(an accuracy\) \(in '.*ck\.json'\)$",
        ),
        (
            _set("progress", "last_val_zero_shot", -0.25),
            r"'progress\.last_val_zero_shot' is -0\.25",
        ),
        (_set("progress", "last_val_zero_shot", float("nan")), r"last_val_zero_shot' is NaN"),
        (
            _set("progress", "train_seconds", -3.0),
            r"^checkpoint sidecar key 'progress\.train_seconds' is -3\.0; expected a number "
            r">= 0 \(seconds\) \(in '.*ck\.json'\)$",
        ),
        (_set("progress", "train_cpu_seconds", -1), r"'progress\.train_cpu_seconds' is -1; exp"),
        (_set("progress", "train_seconds", float("nan")), r"'progress\.train_seconds' is NaN"),
        # before: "x" was read back; float("x") failed when the run resumed
        (_set("progress", "losses", ["x"]), r"key 'progress\.losses' holds 'x'; expected numbers"),
        # before: "" and ".." named the folder, reported as a missing file
        (_set("tensors_file", ".."), r"key 'tensors_file' is '\.\.'; expected a file name"),
        (_set("tensors_file", ""), r"key 'tensors_file' is ''; expected a file name"),
    ],
)
def test_sidecar_values_are_checked(checkpoint, change, message):
    from bottlekit.world.checkpoint import CheckpointError, read_checkpoint

    with pytest.raises(CheckpointError, match=message):
        read_checkpoint(_edit(checkpoint, change))


@pytest.mark.parametrize("accuracy", [None, 0, 0.0, 0.5, 1, 1.0])
def test_an_accuracy_in_range_or_null_and_zero_seconds_are_read(checkpoint, accuracy):
    from bottlekit.world.checkpoint import read_checkpoint

    path = _edit(checkpoint, _set("progress", "last_val_zero_shot", accuracy))
    path = _edit(path, _set("progress", "train_seconds", 0))
    progress = read_checkpoint(path).meta["progress"]
    assert progress["last_val_zero_shot"] == accuracy and progress["train_seconds"] == 0


def test_the_losses_of_a_diverged_run_may_be_nan(checkpoint):
    from bottlekit.world.checkpoint import read_checkpoint

    path = _edit(checkpoint, _set("progress", "losses", [float("nan")]))
    assert np.isnan(read_checkpoint(path).meta["progress"]["losses"][0])


@pytest.mark.parametrize("which", ["sidecar", "tensors"])
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_fifo_or_device_is_named(checkpoint, which, kind):
    # before: "does not exist" (sidecar) or "is missing" (tensors file) of a file that is there
    import os

    from bottlekit.world.checkpoint import CheckpointError, read_checkpoint

    target = checkpoint if which == "sidecar" else _tensors_path(checkpoint)
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target)
        what = r"is a FIFO \(named pipe\); expected a regular file"
    else:
        target.symlink_to("/dev/zero")
        what = r"is a character device; expected a regular file"
    with pytest.raises(CheckpointError, match=what):
        read_checkpoint(checkpoint)


def test_a_sidecar_too_large_is_refused_before_reading(checkpoint):
    # before: read whole, whatever its size (here 32 MiB of NUL bytes: "not valid JSON")
    from bottlekit.world.checkpoint import MAX_SIDECAR_BYTES, CheckpointError, read_checkpoint

    with open(checkpoint, "ab") as fh:
        fh.truncate(MAX_SIDECAR_BYTES + 1)  # sparse: no disk used
    message = (
        r"^checkpoint sidecar '.*ck\.json' has 33554433 bytes; expected at most 33554432 "
        r"\(MAX_SIDECAR_BYTES\)$"
    )
    with pytest.raises(CheckpointError, match=message):
        read_checkpoint(checkpoint)


def test_a_checkpoint_sidecar_at_the_checkpoint_path_is_accepted_up_front(checkpoint, tmp_path):
    # what a run may replace at its first save: no file, or a checkpoint's sidecar
    from bottlekit.world.checkpoint import check_checkpoint_path

    check_checkpoint_path(checkpoint, steps=2)
    check_checkpoint_path(tmp_path / "none.json", steps=2)
    (tmp_path / "dangling.json").symlink_to(tmp_path / "gone.json")
    check_checkpoint_path(tmp_path / "dangling.json", steps=2)


def test_a_tensors_file_of_the_wrong_size_is_refused_before_reading(checkpoint):
    # before: the whole file was read (a 5 GiB file: 5 GiB of memory) before the sidecar's
    # size and digest were compared
    from bottlekit.world.checkpoint import CheckpointError, read_checkpoint

    with open(_tensors_path(checkpoint), "ab") as fh:
        fh.truncate(5 * 2**30)  # sparse: no disk used
    with pytest.raises(CheckpointError, match=r"it has 5368709120 bytes; the sidecar expects"):
        read_checkpoint(checkpoint)


@pytest.mark.parametrize("path", [None, 5])
def test_read_checkpoint_names_a_path_that_is_not_one(path):
    # before: "expected str, bytes or os.PathLike object, not NoneType" from pathlib
    from bottlekit.world.checkpoint import read_checkpoint

    with pytest.raises(TypeError, match=r"path: expected the path of a checkpoint's \.json"):
        read_checkpoint(path)


def _tensor(kind):
    import torch

    return {
        "int": torch.ones(1, 2, dtype=torch.int64),
        "nan": torch.full((1, 2), float("nan")),
        "int32": torch.ones(1, 2, dtype=torch.int32),
        "five": torch.ones(5),
        "one": torch.ones(1),
    }[kind]


def _assert_refused_before_loading(path, message):
    """Restoring the checkpoint at ``path`` raises ``CheckpointError`` matching ``message``
    and leaves the model and optimiser as they were: checked before anything is loaded
    (the RNG states were checked after the model was)."""
    import torch

    from bottlekit.world.checkpoint import (
        CheckpointError,
        read_checkpoint,
        restore_training_state,
    )

    model, opt, sched = _build()
    before = model.weight.detach().clone()
    ck = read_checkpoint(path)
    with pytest.raises(CheckpointError, match=message):
        restore_training_state(ck, model, opt, sched)
    assert torch.equal(model.weight, before) and opt.state_dict()["state"] == {}


@pytest.mark.parametrize(
    ("key", "kind", "message"),
    [
        # before: load_state_dict cast the integers to float silently
        ("model/weight", "int", r"model tensor 'weight' is stored as torch\.int64; the model's"),
        # before: the NaN weights were trained with
        ("model/weight", "nan", r"model tensor 'weight' holds NaN or infinity"),
        # before: "invalid literal for int() with base 10: 'x'"
        ("optimizer/x/exp_avg", "nan", r"has tensor 'optimizer/x/exp_avg'; expected optimiser"),
        # before: "not enough values to unpack (expected 3, got 2)"
        ("optimizer/0", "nan", r"has tensor 'optimizer/0'; expected optimiser state named"),
        # before: -1 indexed the last parameter, silently
        ("optimizer/-1/exp_avg", "one", r"has tensor 'optimizer/-1/exp_avg'; expected"),
        # before: NaN moments and an integer moment were loaded silently
        ("optimizer/0/exp_avg", "nan", r"optimiser state optimizer/0/exp_avg holds NaN"),
        ("optimizer/0/exp_avg", "int32", r"optimizer/0/exp_avg is stored as torch\.int32"),
        # before: a step of five values was loaded (and broadcast in the bias correction)
        ("optimizer/0/step", "five", r"optimizer/0/step has shape \(5,\); expected \(\)"),
        # before: load_state_dict copied the tensors that fit, then raised about the
        # others in a message of several lines (several lines on the command line)
        ("model/extra", "one", r"does not fit the model: it has model tensors the model do"),
        ("model/weight", "five", r"model tensor 'weight' has shape \(5,\); the model's is \(1"),
    ],
)
def test_forged_tensors_are_refused_before_anything_is_loaded(checkpoint, key, kind, message):
    path = _retensor(checkpoint, lambda t: t.__setitem__(key, _tensor(kind)))
    _assert_refused_before_loading(path, message)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # before: "'int' object is not iterable" and "dictionary update sequence element #0
        # has length 1; 2 is required"
        (_set("optimizer", "param_groups", [5]), r"'optimizer\.param_groups\[0\]' is 5; expec"),
        (_set("optimizer", "param_groups", ["ab"]), r"'optimizer\.param_groups\[0\]' is 'ab'"),
        # before: a learning rate of "x" and betas "ab" were loaded; training failed later
        (
            _set("optimizer", "param_groups", 0, "lr", "x"),
            r"'optimizer\.param_groups\[0\]\.lr' is 'x'; expected a number",
        ),
        (
            _set("optimizer", "param_groups", 0, "betas", "ab"),
            r"'optimizer\.param_groups\[0\]\.betas' is 'ab'; expected a list of 2",
        ),
        # before: the scheduler set any key as an attribute (here its optimizer, to 5)
        (_set("scheduler", "optimizer", 5), r"'scheduler' has keys \['optimizer'\] that this"),
        (_set("scheduler", "base_lrs", "x"), r"'scheduler\.base_lrs' is 'x'; expected a list"),
        # before: OverflowError from inside random.setstate / numpy
        (_set("rng", "python", 1, [2**80] * 625), r"ck\.json': sidecar key 'rng\.python' is un"),
        (_set("rng", "numpy", "state", "key", [2**40] * 624), r"ck\.json': sidecar key 'rng\.nu"),
        # before: numpy took any position, and read its key out of bounds at the next draw
        (_set("rng", "numpy", "state", "pos", 5000), r"'rng\.numpy' .*pos: expected an int in"),
        (_set("rng", "numpy", "state", "pos", -3), r"'rng\.numpy' .*pos: expected an int in"),
        # before: IndexError from numpy (a traceback on the command line)
        (_set("rng", "numpy", "state", "key", [1] * 10), r"key: expected a list of 624 int"),
        # before: the run trained with the new learning rate from the next step on, or at
        # another point of the schedule (-5: a negative learning rate), silently
        (
            _set("scheduler", "base_lrs", [0.1]),
            r"'scheduler\.base_lrs' is \[0\.1\]; expected \[0\.001\]",
        ),
        (_set("scheduler", "last_epoch", -5), r"'scheduler\.last_epoch' is -5; expected 1"),
        (_set("scheduler", "last_epoch", 10**9), r"'scheduler\.last_epoch' is 1000000000; expec"),
        (
            _set("optimizer", "param_groups", 0, "betas", [0.5, 0.9]),
            r"'optimizer\.param_groups\[0\]\.betas' is \[0\.5, 0\.9\]; expected \[0\.9, 0\.999\]",
        ),
        (
            _set("optimizer", "param_groups", 0, "lr", 0.5),
            r"'optimizer\.param_groups\[0\]\.lr' is 0\.5; expected 0\.001",
        ),
        # before: KeyError 'lr' (no file named), and 'betas' at the first resumed step,
        # inside torch's Adam
        (
            _pop("optimizer", "param_groups", 0, "lr"),
            r"^checkpoint '.*ck\.json': sidecar key 'optimizer\.param_groups\[0\]' lacks "
            r"\['lr'\]; expected the keys \[.*'lr'.*\] \(as this optimiser's state has\)$",
        ),
        (
            _pop("optimizer", "param_groups", 0, "betas"),
            r"'optimizer\.param_groups\[0\]' lacks \['betas'\]; expected the keys",
        ),
        # before: accepted; the moments of the parameter were dropped (7) or given to
        # another parameter (1, 0), silently
        (
            _set("optimizer", "param_groups", 0, "params", [7, 1]),
            r"^checkpoint '.*ck\.json': sidecar key 'optimizer\.param_groups\[0\]\.params' "
            r"is \[7, 1\]; expected \[0, 1\] \(the indices of the group's parameters",
        ),
        (
            _set("optimizer", "param_groups", 0, "params", [1, 0]),
            r"'optimizer\.param_groups\[0\]\.params' is \[1, 0\]; expected \[0, 1\]",
        ),
        # before: accepted; the schedule restarted from its first step, silently
        (
            _pop("scheduler", "last_epoch"),
            r"^checkpoint '.*ck\.json': sidecar key 'scheduler' lacks \['last_epoch'\]; "
            r"expected the keys \['base_lrs', 'last_epoch', .*\] \(as this scheduler's",
        ),
        # before: KeyError from LambdaLR after the optimiser was loaded
        (_pop("scheduler", "lr_lambdas"), r"'scheduler' lacks \['lr_lambdas'\]; expected"),
    ],
)
def test_forged_optimiser_scheduler_and_rng_states_are_refused(checkpoint, change, message):
    _assert_refused_before_loading(_edit(checkpoint, change), message)


def test_a_group_key_missing_under_another_torch_says_which_torch_wrote_it(checkpoint):
    # A newer torch gives AdamW's groups a key an older one did not write: the refusal
    # says which torch wrote the checkpoint, the way to resume it.
    def older(meta):
        meta["optimizer"]["param_groups"][0].pop("amsgrad")
        meta["versions"]["torch"] = "2.0.1"

    _assert_refused_before_loading(
        _edit(checkpoint, older),
        r"lacks \['amsgrad'\]; expected the keys \[.*\] \(as this optimiser's state has\); it "
        r"was written by torch 2\.0\.1, this is .*: resume with torch 2\.0\.1$",
    )


def _lie_in_the_header(path, change):
    """Change the tensors file's header (its JSON, or its length) and record the new
    file's digest, as a forger would."""
    import hashlib
    import json
    import struct

    meta = json.loads(path.read_text())
    tensors_path = path.parent / meta["tensors_file"]
    blob = tensors_path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    header, data = json.loads(blob[8 : 8 + n]), blob[8 + n :]
    text = json.dumps(change(header) or header).encode()
    size = 2**60 if header.get("lie") == "size" else len(text)
    blob = struct.pack("<Q", size) + text + data
    tensors_path.write_bytes(blob)
    meta["tensors_sha256"] = hashlib.sha256(blob).hexdigest()
    meta["tensors_bytes"] = len(blob)
    path.write_text(json.dumps(meta))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # the safetensors library's words (>= 0.6; | the names of its errors before)
        (
            lambda h: h["model/weight"].update(shape=[1, 200]),
            r"invalid shape, data type, or o|TensorInvalidInfo",
        ),
        (
            lambda h: h["model/weight"].update(data_offsets=[0, 10**9]),
            r"invalid offset|InvalidOffset",
        ),
        (
            lambda h: h["model/weight"].update(dtype="F64"),
            r"invalid shape, data type, or offs|TensorInvalidInfo",
        ),
        (lambda h: h.update(lie="size"), r"header too large|HeaderTooLarge"),
    ],
)
def test_a_tensors_header_that_lies_is_refused(checkpoint, change, message):
    from bottlekit.world.checkpoint import CheckpointError, read_checkpoint

    path = _lie_in_the_header(checkpoint, change)
    with pytest.raises(CheckpointError, match=r"tensors file '.*ck-step0000001\.safetensors': "):
        read_checkpoint(path)
    with pytest.raises(CheckpointError, match=message):
        read_checkpoint(path)


def _rng_tensor(tensors):
    tensors["rng/torch"] = tensors["rng/torch"][:100].clone()


def _cuda_state(**states):
    # CUDA generator states as a CUDA machine saves them (uint8, 16 bytes each), forged;
    # before: never looked at without CUDA, and on a CUDA machine set in the lexical
    # order of their keys (rng/cuda/10 before rng/cuda/2) or failing inside torch
    def change(tensors):
        import torch

        for key, value in states.items():
            tensors[f"rng/cuda/{key}"] = torch.as_tensor(value)

    return change


def _drop(*names):
    def change(tensors):
        for name in names:
            tensors.pop(name)

    return change


def _recast(key, dtype):
    def change(tensors):
        import torch

        tensors[key] = tensors[key].to(getattr(torch, dtype))

    return change


def _negative(key):
    def change(tensors):
        tensors[key] = -tensors[key] - 1.0

    return change


def _counter(value):
    def change(tensors):
        import torch

        tensors["optimizer/0/step"] = torch.tensor(value)

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # before: "checkpoint RNG states are unusable: RuntimeError(...)", naming no file,
        # after the model and optimiser were loaded
        (_rng_tensor, r"ck\.json': tensor 'rng/torch' is unusable .*size 5056"),
        (
            _cuda_state(**{"0": np.zeros(8, np.uint8)}),
            r"ck\.json': tensor 'rng/cuda/0' is unusable .*shape \(8,\)\); expected a uint8 "
            r"tensor of shape \(16,\)",
        ),
        (
            _cuda_state(**{"0": np.zeros(16, np.int64)}),
            r"tensor 'rng/cuda/0' is unusable as that RNG's state \(a int64 tensor",
        ),
        (
            _cuda_state(**{"0": np.zeros(16, np.uint8), "2": np.zeros(16, np.uint8)}),
            r"CUDA RNG tensors \['rng/cuda/0', 'rng/cuda/2'\] are unusable; expected one per "
            r"device, numbered from 0 without a gap",
        ),
        (
            _cuda_state(**{"first": np.zeros(16, np.uint8)}),
            r"CUDA RNG tensors \['rng/cuda/first'\] are unusable; expected the keys",
        ),
        # before: cast to the parameter's dtype silently (float16: precision lost)
        (_recast("optimizer/0/exp_avg", "float16"), r"exp_avg is stored as torch\.float16; exp"),
        (_recast("optimizer/0/exp_avg", "float64"), r"exp_avg is stored as torch\.float64; exp"),
        # before: KeyError 'exp_avg_sq' at the first step after loading
        (_drop("optimizer/0/exp_avg_sq"), r"parameter 0 lacks \['exp_avg_sq'\]; expected"),
        # before: that parameter's moments (all of them) restarted from zero, silently
        (
            _drop(*(f"optimizer/1/{n}" for n in ("step", "exp_avg", "exp_avg_sq"))),
            r"parameter 1 lacks",
        ),
        (
            _drop(
                *(f"optimizer/{i}/{n}" for i in (0, 1) for n in ("step", "exp_avg", "exp_avg_sq"))
            ),
            r"parameter 0 lacks \['exp_avg', 'exp_avg_sq', 'step'\]",
        ),
        # before: loaded; the first resumed step made the weights NaN (the square root
        # of a negative second moment)
        (
            _negative("optimizer/0/exp_avg_sq"),
            r"^checkpoint '.*ck\.json': optimiser state optimizer/0/exp_avg_sq has negative "
            r"values; expected values >= 0$",
        ),
        # before: loaded; the bias correction 1 - beta**step went negative, or fractional
        (_counter(-4.0), r"optimizer/0/step is -4\.0; expected the checkpoint's step, 1 \(prog"),
        (_counter(2.5), r"optimizer/0/step is 2\.5; expected the checkpoint's step, 1"),
        (_counter(10.0**9), r"optimizer/0/step is 1000000000\.0; expected the checkpoint's"),
    ],
)
def test_forged_optimiser_and_rng_tensors_are_refused(checkpoint, change, message):
    _assert_refused_before_loading(_retensor(checkpoint, change), message)


def _write_step_2(path):
    from bottlekit.world.checkpoint import write_checkpoint

    model, opt, sched = _trained(steps=2)
    meta = _meta(dict(PROGRESS, step=2, losses=[0.5, 0.4]))
    write_checkpoint(path, model=model, optimizer=opt, scheduler=sched, meta=meta)


@pytest.mark.parametrize("failing", ["ck-step0000002.safetensors", "ck.json"])
def test_a_checkpoint_write_that_fails_midway_leaves_the_previous_one(
    checkpoint, monkeypatch, failing
):
    # a write killed or failing in the middle of its atomic write: the temporary file is
    # written and synced, its rename fails. Before: a failure at the sidecar left the new
    # tensors file behind, named by no sidecar (one more for every failed write)
    import os

    from bottlekit.world.checkpoint import read_checkpoint

    replace = os.replace

    def fail_at(src, dst):
        if os.path.basename(dst) == failing:
            raise OSError(28, "No space left on device")
        replace(src, dst)

    monkeypatch.setattr(os, "replace", fail_at)
    with pytest.raises(OSError, match="No space left on device"):
        _write_step_2(checkpoint)
    monkeypatch.setattr(os, "replace", replace)
    assert read_checkpoint(checkpoint).step == 1  # the previous checkpoint, whole
    names = sorted(p.name for p in checkpoint.parent.iterdir())
    assert names == ["ck-step0000001.safetensors", "ck.json"], names
    _write_step_2(checkpoint)  # and the next write goes through
    assert read_checkpoint(checkpoint).step == 2
    names = sorted(p.name for p in checkpoint.parent.iterdir())
    assert names == ["ck-step0000002.safetensors", "ck.json"], names


@pytest.mark.parametrize("kind", ["deep", "fifo"])
def test_a_save_over_a_damaged_sidecar_goes_through(checkpoint, kind):
    # what is at the path when the run saves (train refuses it before training; it may
    # change during a run). Before: RecursionError from the json module (deep), or the
    # save blocked for ever on the FIFO
    import os
    import signal

    from bottlekit.world.checkpoint import read_checkpoint

    checkpoint.unlink()
    if kind == "deep":
        checkpoint.write_text("[" * 100_000)
    else:
        os.mkfifo(checkpoint)

    class Blocked(Exception):  # (not an OSError, which the save may catch)
        pass

    def hung(*_):
        raise Blocked("write_checkpoint blocked for 60 s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    try:
        _write_step_2(checkpoint)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert read_checkpoint(checkpoint).step == 2
    # the step-1 tensors file, named by no readable sidecar, is left where it was
    names = sorted(p.name for p in checkpoint.parent.iterdir())
    assert names == ["ck-step0000001.safetensors", "ck-step0000002.safetensors", "ck.json"]


def test_a_checkpoint_of_the_step_in_place_does_not_replace_its_file(checkpoint, monkeypatch):
    # a fresh run writing where another run's checkpoint of the same step is (a run
    # restarted without --resume). Before: the tensors file the sidecar in place names was
    # replaced first, so a run that died before its sidecar was written left a sidecar
    # naming a file of other content: no checkpoint loadable at all
    import os

    import torch

    from bottlekit.world.checkpoint import read_checkpoint, write_checkpoint

    before = read_checkpoint(checkpoint).model_state()["weight"].clone()
    model, opt, sched = _trained(value=3.0)  # other weights at the same step
    meta = _meta()
    replace = os.replace

    def die_at_the_sidecar(src, dst):
        if os.path.basename(dst) == "ck.json":
            raise KeyboardInterrupt
        replace(src, dst)

    monkeypatch.setattr(os, "replace", die_at_the_sidecar)
    with pytest.raises(KeyboardInterrupt):
        write_checkpoint(checkpoint, model=model, optimizer=opt, scheduler=sched, meta=meta)
    monkeypatch.setattr(os, "replace", replace)
    assert torch.equal(read_checkpoint(checkpoint).model_state()["weight"], before)
    for _ in range(2):  # in place the next time, and back
        write_checkpoint(checkpoint, model=model, optimizer=opt, scheduler=sched, meta=meta)
        ck = read_checkpoint(checkpoint)
        assert torch.equal(ck.model_state()["weight"], model.weight)
        names = sorted(p.name for p in checkpoint.parent.iterdir())
        assert names == sorted(["ck.json", ck.meta["tensors_file"]]), names
    assert ck.meta["tensors_file"] == "ck-step0000001.safetensors"


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_checkpoint_files_honour_the_umask(checkpoint, mask):
    import os
    import stat

    old = os.umask(mask)
    try:
        _write_step_2(checkpoint)
    finally:
        os.umask(old)
    for p in checkpoint.parent.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask, p.name


def test_an_untampered_checkpoint_restores_exactly(checkpoint):
    import torch

    from bottlekit.world.checkpoint import read_checkpoint, restore_training_state

    ck = read_checkpoint(checkpoint)
    model, opt, sched = _build()
    restore_training_state(ck, model, opt, sched)
    assert torch.equal(model.weight, ck.model_state()["weight"])
    assert opt.state_dict()["param_groups"][0]["lr"] == 1e-3


# ------------------------------------------------------------------ evaluate's functions
X = np.random.default_rng(0).normal(size=(10, 4))
Y = np.arange(10) % 3
T = np.eye(3, 4)
LABELS = (np.arange(20).reshape(10, 2) // 2 % 2 + np.array([0, 1])) % 2


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        # before: a y of one entry was broadcast against all predictions: 0.1, silently
        ((X, Y[:1], T), ValueError, r"y: expected 10 class indices \(one per embedding\), got 1"),
        # before: "operands could not be broadcast together with shapes (10,) (3,)"
        ((X, Y[:3], T), ValueError, r"y: expected 10 class indices"),
        # before: NaN embeddings gave an accuracy (argmax of NaN is 0), silently
        ((np.full((10, 4), np.nan), Y, T), ValueError, r"x: contains NaN or inf"),
        # before: numpy's matmul "mismatch in its core dimension 0"
        ((X, Y, np.eye(3, 5)), ValueError, r"class_text: expected an array of shape \(n >= 1, 4"),
        # before: classes 10..12 for three class texts gave 0.0, silently
        # the values out of range are listed (min..max before)
        (
            (X, Y + 10, T),
            ValueError,
            r"y: expected indices in 0\.\.2, got 10, 11, 12, \.\.\. \(10 ",
        ),
        # before: nan from np.mean of nothing
        (
            (X[:0], Y[:0], T),
            ValueError,
            r"x: expected an array of shape \(n >= 1, d\), got \(0, 4",
        ),
        # before: "ufunc 'matmul' did not contain a loop with signature matching types"
        ((X.astype(str), Y, T), TypeError, r"x: expected a numeric array, got text"),
    ],
)
def test_zero_shot_accuracy_checks_its_inputs(args, error, message):
    from bottlekit.world.evaluate import zero_shot_accuracy

    with pytest.raises(error, match=message):
        zero_shot_accuracy(*args)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        # before: labels of 3 images for 10 embeddings gave NaN AUROCs, silently
        (LABELS[:3], r"labels: expected shape \(10, 2\) .*got \(3, 2\)"),
        # before: "tuple index out of range"
        (LABELS[:, 0], r"labels: expected shape \(10, 2\) .*got \(10,\)"),
        # before: scikit-learn's "continuous format is not supported"
        (
            LABELS * 0.5,
            r"labels: expected 0/1 or boolean values \(NaN and soft labels have no AUROC\), "
            r"got 0\.5",
        ),
        # before: NaN labels gave NaN AUROCs, silently
        (np.where(LABELS, np.nan, 0), r"labels: expected 0/1 or boolean values .*got nan"),
    ],
)
def test_concept_aurocs_checks_its_labels(labels, message):
    from bottlekit.world.evaluate import concept_aurocs

    assert not np.isnan(concept_aurocs(X, LABELS, np.eye(2, 4))).any()  # the valid labels
    with pytest.raises(ValueError, match=message):
        concept_aurocs(X, labels, np.eye(2, 4))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # before: scikit-learn's "The 'C' parameter of LogisticRegression must be ..."
        ((X, Y, 0), r"c: expected a finite number > 0, got 0"),
        ((X, Y, np.nan), r"c: expected a finite number > 0, got nan"),
        # before: scikit-learn's "Input X contains NaN"
        ((np.full((10, 4), np.nan), Y, 1.0), r"x_train: contains NaN or inf"),
        # before: scikit-learn's "The 'random_state' parameter ... Got -1 instead"
        ((X, Y, 1.0, -1), r"seed: expected an int >= 0 and <= 4294967295, got -1"),
        # before: scikit-learn's "Found input variables with inconsistent numbers of samples"
        ((X, Y[:4], 1.0), r"y_train: expected 10 class indices"),
    ],
)
def test_fit_linear_probe_checks_its_inputs(args, message):
    from bottlekit.world.evaluate import fit_linear_probe

    with pytest.raises(ValueError, match=message):
        fit_linear_probe(*args)


@pytest.mark.parametrize(
    ("res", "error", "message"),
    [
        # before: KeyError: 'linear_probe_accuracy'
        ({"test": {"a": 1}}, ValueError, r"res\['test'\]\['linear_probe_accuracy'\]: expected"),
        # before: "Unknown format code 'f' for object of type 'str'"
        (
            {
                "test": {
                    "linear_probe_accuracy": "x",
                    "zero_shot_accuracy": 1.0,
                    "concept_auroc_mean": 1.0,
                }
            },
            ValueError,
            r"res\['test'\]\['linear_probe_accuracy'\]: expected a number .*got 'x'",
        ),
        # before: "list index out of range"
        ([1], TypeError, r"res: expected the dict evaluate\(\) returns, got list"),
    ],
)
def test_format_report_checks_its_input(res, error, message):
    from bottlekit.world.evaluate import format_report

    with pytest.raises(error, match=message):
        format_report(res)


@pytest.mark.parametrize("name", ["n_train", "n_val", "n_test"])
def test_evaluate_refuses_a_world_larger_than_memory_before_embedding(name):
    # before: a huge n_test was found out after the train and val worlds were drawn and
    # embedded (minutes), as a MemoryError inside make_world
    from bottlekit.world import evaluate as world_evaluate

    class Embeds:
        id = "fake"

        def encode_images(self, *args, **kwargs):
            raise AssertionError("embedded before the check")

    sizes = {"n_train": 5, "n_val": 5, "n_test": 5, name: 10**12}  # 11 PiB of images
    with pytest.raises(ValueError, match=rf"evaluate: {name}=1000000000000 asks for .* images"):
        world_evaluate.evaluate(Embeds(), **sizes)


def test_world_summary_command_refuses_no_timing_runs(run_as_main):
    # before: --repeats 0 printed "make_world: 0 images per CPU-second" as a measurement,
    # and --n 0 ended in a traceback
    for argv, message in (
        (["--repeats", "0"], "repeats: expected an int >= 1, got 0"),
        (["--n", "0"], "n: expected an int >= 1, got 0"),
    ):
        status, out, err = run_as_main("bottlekit.world", *argv)
        assert status == 2, err
        assert err == f"python -m bottlekit.world: error: {message}\n"
        assert "images per CPU-second" not in out


def test_world_summary_command_says_its_defaults(capsys):
    from bottlekit.world.__main__ import main

    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--n N images per timing run (default 4000)" in text
    assert "--repeats REPEATS timing runs, the best one reported (default 3)" in text


def test_cuda_rng_states_go_to_their_devices_in_device_order(monkeypatch):
    # a checkpoint of a 12-GPU machine resumed on one with 11 (torch's CUDA calls faked:
    # no GPU here). Before: the states were set in the lexical order of their keys
    # (rng/cuda/10 onto device 2) and all twelve given to set_rng_state_all
    import torch

    from bottlekit.world._checkpoint_rng import capture_rng_states, restore_rng_states

    states, tensors = capture_rng_states()
    for i in range(12):
        tensors[f"rng/cuda/{i}"] = torch.full((16,), i, dtype=torch.uint8)
    set_states = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 11)
    monkeypatch.setattr(
        torch.cuda, "set_rng_state", lambda s, device: set_states.update({device: int(s[0])})
    )
    monkeypatch.setattr(
        torch.cuda,
        "set_rng_state_all",
        lambda ss: set_states.update({d: int(s[0]) for d, s in enumerate(ss)}),
    )
    restore_rng_states(states, tensors)
    assert set_states == {i: i for i in range(11)}
