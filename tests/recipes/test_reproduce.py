"""Every recipe runs end to end on its dataset's fixture (tests/datasets/dataset_formats.py)
with a random-weight backbone (the tiny ``test-tiny-vit`` open_clip config, no weights).

This is plumbing only: the fixture labels and the backbone are random, so the measured
numbers mean nothing; what is checked is that each recipe's dataset, splits, concept
source, model class and hyper-parameters, metric and record go through, and that the
record reports what the fixture holds. Long trainings are shortened with ``--set``.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from dataset_formats import CUB_CLASSES, imagenet_wnids, write_cifar, write_cub, write_waterbirds

import bottlekit
from bottlekit.app.cli import main
from bottlekit.app.recipe import list_recipes, load_recipe
from bottlekit.app.reproduce import format_comparison, load_concept_file, run_recipe
from bottlekit.concepts import from_text

BACKBONE = "test-tiny-vit"  # open_clip architecture, random weights (tests/configs)
CONCEPTS = ["red wings", "long beak", "webbed feet", "wheels", "a lake", "a forest"]
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck"]  # fmt: skip
#: shortened trainings (the recipes' own values take minutes to hours)
FAST = {
    "PosthocCBM": ["model.params.residual_epochs=2", "model.params.max_iter=200"],
    "LaBo": ["model.params.max_epochs=3"],
    # a random backbone reproduces no concept above the 0.45 cut-off: keep them all
    "LabelFreeCBM": [
        "model.params.projection_steps=10",
        "model.params.max_epochs=5",
        "model.params.interpretability_cutoff=-1.0",
    ],
    "KnowledgeCBM": ["model.params.max_epochs=3", "model.params.n_concepts=4"],
}
#: PCBM without the residual: its residual_* settings are refused there (no effect)
PCBM_FAST = [s for s in FAST["PosthocCBM"] if "residual_" not in s]
#: the CUB fixture has 6 attributes over 3 classes: keep Koh's rule's classes at 1
CUB_FAST = ["concepts.cv=2", "concepts.n_examples=2", "dataset.options.min_classes=1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory, tiny_configs):
    tmp = tmp_path_factory.mktemp("recipes")
    cub = write_cub(tmp / "cub", n_per_class=8, seed=1)
    bird_cub = write_cub(tmp / "wb_cub", n_per_class=6, seed=2)
    out = {
        "cub": cub,
        "waterbirds": write_waterbirds(tmp / "wb", bird_cub),
        "cifar10": write_cifar(tmp / "c10", hundred=False),
        "cifar100": write_cifar(tmp / "c100", hundred=True),
        "tmp": tmp,
    }
    # Label-free CBM holds out 2+ images: give CIFAR-100's train.bin 7 records, not 3
    c100 = out["cifar100"]
    extra = (c100["root"] / "test.bin").read_bytes()
    with open(c100["root"] / "train.bin", "ab") as fh:
        fh.write(extra)
    c100["files"]["train.bin"] = tuple(
        np.concatenate([a, b]) for a, b in zip(c100["files"]["train.bin"],
                                               c100["files"]["test.bin"], strict=True)
    )  # fmt: skip
    out["imagefolder"] = _imagenet_with_synsets(tmp / "imagenet")
    (tmp / "concepts.txt").write_text("# one per line\n" + "\n".join(CONCEPTS) + "\n\n")
    bk = bottlekit.load_backbone(BACKBONE, device="cpu")
    from_text(bk, CONCEPTS).save(tmp / "bank.safetensors")
    for name, classes in (("cub", CUB_CLASSES), ("cifar10", CIFAR10)):
        # LaBo's class2concepts.json: readable class names, sentences per class
        mapping = {c.split(".", 1)[-1].replace("_", " "): [f"{CONCEPTS[i % 6]}"] for i, c in
                   enumerate(classes)}  # fmt: skip
        mapping[next(iter(mapping))].append("a shared concept")
        (tmp / f"{name}.json").write_text(json.dumps(mapping))
    return out


def _imagenet_with_synsets(root):
    """ImageNet's layout for three classes (4 train, 2 val images each) and a synset file of
    1000 wnids, which OpenAI's class names (the recipe's ``clip_names``) are indexed by."""
    from dataset_formats import image

    wnids = imagenet_wnids()
    for c, w in enumerate(wnids[:3]):
        for split, n in (("train", 4), ("val", 2)):
            for j in range(n):
                image(root / split / w / f"{w}_{j}.JPEG", (16, 16), value=60 * c + j, fmt="JPEG")
    (root / "LOC_synset_mapping.txt").write_text("".join(f"{w} synset {w}\n" for w in wnids))
    return {"root": root}


def _concept_file(recipe, data):
    if recipe.concepts["source"] == "dataset":
        return None
    if recipe.model["class"] == "LaBo":
        return data["tmp"] / f"{recipe.dataset['name']}.json"
    if recipe.concepts["source"] == "file":
        return data["tmp"] / "bank.safetensors"
    return data["tmp"] / "concepts.txt"


def _overrides(recipe):
    out = list(FAST[recipe.model["class"]])
    if recipe.model["class"] == "PosthocCBM" and not recipe.model["params"].get("residual"):
        out = list(PCBM_FAST)
    if recipe.dataset["name"] == "cub" and recipe.concepts["source"] == "dataset":
        out += CUB_FAST
    if recipe.metric["name"] == "concept_existence":
        out.append("metric.top_k=2")
    if recipe.metric["name"] == "concept_location":
        out += ["metric.n_images=4", "dataset.options.image_size=32"]
    return out


def _expected_sizes(recipe, data):
    ds = recipe.dataset["name"]
    if ds == "cub":
        is_train = data["cub"]["is_train"]
        n_train, n_test = int(is_train.sum()), int((~is_train).sum())
        if "shots" in recipe.dataset:  # few-shot: min(shots, images of the class)
            labels = data["cub"]["labels"][is_train]
            n_train = sum(min(recipe.dataset["shots"], int((labels == c).sum())) for c in range(3))
        return n_train, n_test, 3
    if ds == "waterbirds":
        splits = np.array([r[3] for r in data["waterbirds"]["rows"]])
        return int((splits == 0).sum()), int((splits == 2).sum()), 2
    if ds == "imagefolder":
        return 12, 6, 3
    files = data[ds]["files"]
    test = "test.bin" if ds == "cifar100" else "test_batch.bin"
    labels = np.concatenate([files[f][0][:, -1] for f in files if f != test])
    n_train = len(labels)
    if "shots" in recipe.dataset:
        n_train = sum(min(recipe.dataset["shots"], int((labels == c).sum())) for c in
                      np.unique(labels))  # fmt: skip
    return n_train, len(files[test][0]), 100 if ds == "cifar100" else 10


@pytest.mark.parametrize("name", list_recipes())
def test_recipe_runs_end_to_end_on_its_fixture(name, data):
    """Plumbing only (random fixture, random-weight backbone): see the module docstring."""
    recipe = load_recipe(name)
    root = data[recipe.dataset["name"]]["root"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # chance-level CAVs, skipped images: expected here
        record = run_recipe(
            recipe,
            root,
            backbone=BACKBONE,
            concepts=_concept_file(recipe, data),
            overrides=_overrides(recipe),
            cache_dir=data["tmp"] / "cache",
            device="cpu",
        )
    n_train, n_test, n_classes = _expected_sizes(recipe, data)
    assert record["recipe"] == name and record["metric"] == recipe.metric["name"]
    assert record["paper"]["value"] == recipe.paper.get("value")
    assert (record["dataset"]["n_train"], record["dataset"]["n_test"]) == (n_train, n_test)
    assert record["dataset"]["n_classes"] == n_classes
    assert record["backbone"]["name"] == BACKBONE and not record["backbone"]["as_in_recipe"]
    assert not record["comparable"]
    assert record["model"]["class"] == recipe.model["class"]
    assert 0 <= record["measured"] <= 1
    details = record["details"]
    if recipe.metric["name"] == "accuracy":
        assert record["measured"] == details["test_accuracy"]
    elif recipe.metric["name"] == "worst_group_accuracy":
        groups = details["groups"]
        assert record["measured"] == min(g["accuracy"] for g in groups.values())
        rows = [r for r in data["waterbirds"]["rows"] if r[3] == 2]  # the test split
        for (y, place), label in (((0, 0), "landbird / land"), ((1, 1), "waterbird / water")):
            n = sum(1 for r in rows if (r[2], r[4]) == (y, place))
            assert groups.get(label, {"n": 0})["n"] == n
        assert sum(g["n"] for g in groups.values()) == n_test
    elif recipe.metric["name"] == "concept_existence":
        assert details["top_k"] == 2 and 0 <= details["chance"] <= 1
    else:
        assert details["n_images"] == 4 and details["n_pairs"] >= 1
        assert record["measured"] == details["pointing_accuracy"]


def test_cli_prints_the_comparison_and_writes_the_record(data, capsys, tmp_path):
    out = tmp_path / "rec" / "pcbm-h-cifar10.json"
    argv = ["reproduce", "pcbm-h-cifar10", "--root", str(data["cifar10"]["root"]),
            "--backbone", BACKBONE, "--concepts", str(data["tmp"] / "bank.safetensors"),
            "--device", "cpu", "--out", str(out), "--quiet"]  # fmt: skip
    for s in FAST["PosthocCBM"]:
        argv += ["--set", s]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    record = json.loads(out.read_text())
    assert printed.splitlines()[0] == "pcbm-h-cifar10: PCBM-h on CIFAR-10"
    assert f"measured    {record['measured']:.4f}" in printed
    assert (
        "paper       0.8710  (Table 1, CIFAR-10, PCBM-h (test accuracy))"
        "  [unverified: see value_source]" in printed
    )
    assert f"difference  {record['measured'] - 0.871:+.4f}" in printed
    assert "not comparable to the paper's" in printed  # the backbone was replaced
    assert printed.rstrip().endswith(f"wrote the record to {out}")
    assert printed.startswith(format_comparison(record))
    # the record's contents
    assert record["recipe"] == "pcbm-h-cifar10" and record["paper"]["value"] == 0.871
    assert record["difference"] == pytest.approx(record["measured"] - 0.871)
    assert record["dataset"]["name"] == "cifar10"
    assert record["dataset"]["root"] == str(data["cifar10"]["root"])
    assert record["backbone"]["recipe_backbone"] == "RN50 / openai"
    assert record["concepts"] == {"source": "file", "file": str(data["tmp"] / "bank.safetensors"),
                                  "n_candidates": 6, "n_in_model": 6}  # fmt: skip
    assert record["model"]["params"]["residual"] is True
    assert record["model"]["params"]["residual_epochs"] == 2  # what ran: --set applied
    assert record["overrides"] == FAST["PosthocCBM"]
    assert record["versions"]["bottlekit"] == bottlekit.__version__
    assert set(record["versions"]) >= {"python", "numpy", "torch", "open_clip_torch"}
    assert record["time"]["seconds"] > 0 and record["time"]["started"].endswith("+00:00")
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # atomic: no leftovers


@pytest.mark.parametrize("comparable", [None, False])
def test_a_number_for_another_backbone_is_not_comparable(data, tmp_path, comparable):
    # pcbm-cifar10 with the test backbone as the recipe's own, so the run uses the recipe's
    # backbone; paper.comparable = false (a number measured on a backbone the recipe cannot
    # run) must still make the record not comparable, and the printout say why
    text = load_recipe("pcbm-cifar10").path.read_text(encoding="utf-8")
    text = text.replace('name = "RN50"\npretrained = "openai"',
                        f'name = "{BACKBONE}"\npretrained = "random"')  # fmt: skip
    if comparable is False:
        text = text.replace(
            "value_verified = false\n", "value_verified = false\ncomparable = false\n"
        )
    path = tmp_path / "pcbm-cifar10.toml"
    path.write_text(text, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bank = data["tmp"] / "bank.safetensors"
        record = run_recipe(path, data["cifar10"]["root"], concepts=bank,
                            overrides=PCBM_FAST, device="cpu")  # fmt: skip
    assert record["backbone"]["as_in_recipe"] is True
    assert (
        record["paper"]["value_verified"] is False and record["paper"]["comparable"] is comparable
    )
    assert record["comparable"] is (comparable is None)
    printed = format_comparison(record)
    assert "[unverified: see value_source]" in printed
    assert ("not comparable" in printed) is (comparable is False)
    assert ("(CLIP RN50 (OpenAI): 'clip:RN50'" in printed) is (comparable is False)


def _pcbm_h_argv(data, out, *settings):
    argv = ["reproduce", "pcbm-h-cifar10", "--root", str(data["cifar10"]["root"]),
            "--backbone", BACKBONE, "--concepts", str(data["tmp"] / "bank.safetensors"),
            "--device", "cpu", "--out", str(out), "--quiet"]  # fmt: skip
    for s in (*FAST["PosthocCBM"], *settings):
        argv += ["--set", s]
    return argv


def test_a_recipe_device_is_named_as_the_recipe_names_it(data, capsys, tmp_path):
    # before: the classes resolve their device in fit, after the data were read and
    # embedded, and the command line read the class's "device: ..." as the --device the
    # user had given (cpu): "--device: 'bogus' is not a torch device"
    out = tmp_path / "r.json"
    assert main(_pcbm_h_argv(data, out, "model.params.device=bogus")) == 2
    assert capsys.readouterr().err.startswith(
        "bottlekit reproduce: error: model.params.device: 'bogus' is not a torch device; "
    )
    assert not out.exists()


@pytest.mark.parametrize("in_recipe", [True, False])
def test_a_fit_error_about_a_recipe_parameter_keeps_its_recipe_name(
    data, capsys, tmp_path, monkeypatch, in_recipe
):
    # an error only fit can find (here a stand-in for one) about a parameter the recipe
    # set is named model.params.NAME, not the option --device the user gave; a device the
    # command filled in from --device (no model.params.device) is left to the option
    from bottlekit.bottleneck import PosthocCBM

    def fit(self, X, y):
        raise ValueError(f"device: {self.device!r} ran out of something")

    monkeypatch.setattr(PosthocCBM, "fit", fit)
    settings = ["model.params.device=cpu"] if in_recipe else []
    assert main(_pcbm_h_argv(data, tmp_path / "r.json", *settings)) == 2
    name = "model.params.device" if in_recipe else "--device"
    assert capsys.readouterr().err == (
        f"bottlekit reproduce: error: {name}: 'cpu' ran out of something\n"
    )


def test_cli_list(capsys):
    assert main(["reproduce", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["recipe", "dataset", "model", "metric", "paper"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert set(rows) == set(list_recipes())
    assert rows["pcbm-cub"] == ["cub", "PosthocCBM", "accuracy", "0.5880"]
    assert rows["lfcbm-cifar100"] == ["cifar100", "LabelFreeCBM", "accuracy", "0.6527"]
    assert rows["knobo-waterbirds"] == ["waterbirds", "KnowledgeCBM", "worst_group_accuracy", "-"]


def test_llm_recipe_fails_fast_without_endpoint_or_cache(data, monkeypatch, capsys):
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL"):
        monkeypatch.delenv(var, raising=False)
    argv = ["reproduce", "lfcbm-cifar10", "--root", str(data["cifar10"]["root"]),
            "--backbone", BACKBONE, "--device", "cpu", "--quiet"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "recipe lfcbm-cifar10: its concepts come from a language model (text-davinci-002" in err
    assert "no endpoint is configured" in err and "OPENAI_BASE_URL" in err
    assert "--concepts FILE" in err and "cifar10_filtered.txt" in err
    assert "(text-davinci-002, the paper's model)" in err  # shut down: the error says what to do
    assert "pass --llm-model with a model your endpoint serves" in err


def test_file_recipe_without_concepts_fails_before_reading_data(capsys, tmp_path):
    argv = ["reproduce", "pcbm-cifar10", "--root", str(tmp_path / "nowhere")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "recipe pcbm-cifar10: its concepts are not made by bottlekit" in err
    assert "Broden CAVs on CLIP RN50" in err


def test_cli_argument_errors(capsys, tmp_path):
    assert main(["reproduce"]) == 2
    assert "RECIPE: expected a recipe name" in capsys.readouterr().err
    assert main(["reproduce", "pcbm-cub"]) == 2
    assert "--root: expected the dataset's folder" in capsys.readouterr().err
    assert main(["reproduce", "pcbm-cub", "--root", ".", "--out", str(tmp_path / "r.txt")]) == 2
    assert "--out: expected a .json file name" in capsys.readouterr().err


def test_concept_files(data, tmp_path):
    bk = bottlekit.load_backbone(BACKBONE, device="cpu")
    classes = list(CUB_CLASSES)
    bank = load_concept_file(data["tmp"] / "cub.json", bk, classes)
    # one column per distinct concept; the class that proposed it marked in the prior
    assert bank.names == [CONCEPTS[0], "a shared concept", CONCEPTS[1], CONCEPTS[2]]
    assert bank.class_names == classes
    np.testing.assert_array_equal(bank.class_prior, [[1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    assert load_concept_file(data["tmp"] / "concepts.txt", bk, classes).names == CONCEPTS
    assert load_concept_file(data["tmp"] / "bank.safetensors", bk, classes).names == CONCEPTS
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"Emperor Penguin": ["tuxedo"]}))
    with pytest.raises(ValueError, match=r"names classes that are not the dataset's: \['Emp"):
        load_concept_file(wrong, bk, classes)
    with pytest.raises(ValueError, match=r"is a pickle, which bottlekit never loads"):
        load_concept_file(tmp_path / "bank.pkl", bk, classes)
    with pytest.raises(ValueError, match=r"--concepts: file .*missing.txt' does not exist"):
        load_concept_file(tmp_path / "missing.txt", bk, classes)


def test_few_shot_selection_keeps_k_per_class(data):
    """LaBo's submodular selection: select_per_class=1 keeps one concept per class."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record = run_recipe(
            "labo-cub-16shot",
            data["cub"]["root"],
            backbone=BACKBONE,
            concepts=data["tmp"] / "cub.json",
            overrides=[*FAST["LaBo"], "concepts.select_per_class=1"],
            cache_dir=data["tmp"] / "cache",
            device="cpu",
        )
    assert record["concepts"]["n_candidates"] == 4
    assert record["concepts"]["n_in_model"] == 3


class _ChatServer:
    """POST /v1/chat/completions on 127.0.0.1: every answer is the same JSON list."""

    def __init__(self, answer: str):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.models: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.models.append(body["model"])
                data = json.dumps({
                    "id": f"c{len(server.models)}", "object": "chat.completion", "created": 0,
                    "model": body["model"], "usage": {"prompt_tokens": 1,
                    "completion_tokens": 1, "total_tokens": 2},
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": answer}}],
                }).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_llm_recipe_asks_the_endpoint_then_reads_the_cache(data, monkeypatch):
    """The LLM path: answers from a local endpoint, then the same run offline from the cache."""
    pytest.importorskip("openai", reason="the [llm] extra")
    server = _ChatServer('["red wings", "long beak", "a lake"]')
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.delenv("OPENAI_MODEL", raising=False)
    kwargs = dict(
        backbone=BACKBONE,
        overrides=FAST["LabelFreeCBM"],
        cache_dir=data["tmp"] / "cache",
        device="cpu",
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            first = run_recipe("lfcbm-cifar10", data["cifar10"]["root"], **kwargs)
    finally:
        server.stop()
    # one request per class and Label-free CBM prompt, to the recipe's model
    assert server.models == ["text-davinci-002"] * (10 * 3)
    assert first["concepts"]["source"] == "llm" and first["concepts"]["n_candidates"] == 3
    assert first["concepts"]["llm_model"] == "text-davinci-002"
    assert first["concepts"]["llm_cache"].endswith("llm")
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.delenv("OPENAI_API_KEY")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = run_recipe("lfcbm-cifar10", data["cifar10"]["root"], **kwargs)
    assert again["concepts"] == first["concepts"] and again["measured"] == first["measured"]


def _imagenet_splits(root, train_classes, val_classes, synsets=True):
    from dataset_formats import image

    wnids = imagenet_wnids()
    for split, classes, n in (("train", train_classes, 2), ("val", val_classes, 1)):
        for c in classes:
            for j in range(n):
                image(root / split / wnids[c] / f"{wnids[c]}_{j}.JPEG", (16, 16), fmt="JPEG")
    if synsets:
        (root / "LOC_synset_mapping.txt").write_text("".join(f"{w} s{w}\n" for w in wnids))
    return wnids


def test_a_test_split_with_fewer_classes_is_labelled_by_the_training_classes(
    tmp_path, tiny_configs
):
    # Before: ImageNet's val/ with class folders 0 and 2 of train's 0, 1, 2 labelled its
    # class 2 as 1 (each split numbers its own sorted folders): the recipe's accuracy on
    # such a fixture read 0.5 instead of 1.0, silently.
    from bottlekit.app.reproduce import _on_train_classes
    from bottlekit.datasets import load_imagefolder

    _imagenet_splits(tmp_path, [0, 1, 2], [0, 2])
    train = load_imagefolder(tmp_path, "train", clip_names=True)
    test = load_imagefolder(tmp_path, "val", clip_names=True)
    cfg = {"train_split": "train", "test_split": "val"}
    fixed = _on_train_classes(test, train, cfg)
    assert fixed.class_names == train.class_names
    assert [fixed.class_names[k] for k in fixed.labels] == ["tench", "great white shark"]
    assert [f.parent.name for f in fixed.image_source.items] == [
        f.parent.name for f in test.image_source.items
    ]


def test_a_test_class_the_training_split_lacks_is_refused(data, tmp_path, capsys):
    # Before: the run went through and counted val's third class (label 2, unknown to a
    # model of two classes) as errors, silently.
    _imagenet_splits(tmp_path, [0, 1], [0, 1, 2])
    argv = ["reproduce", "lfcbm-imagenet", "--root", str(tmp_path), "--backbone", BACKBONE,
            "--concepts", str(data["tmp"] / "concepts.txt"),
            "--device", "cpu", "--quiet"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "the test split 'val' has 1 class(es) that the training split 'train' lacks" in err
    assert "first 'great white shark'" in err


def test_lfcbm_imagenet_without_a_synset_file_says_where_to_put_it(data, tmp_path, capsys):
    # Before: "Expected ImageNet's LOC_synset_mapping.txt (found as for synset_names, or
    # synset_names=path)": neither where it was looked for nor how a recipe passes it.
    _imagenet_splits(tmp_path / "imagenet", [0, 1], [0, 1], synsets=False)
    argv = ["reproduce", "lfcbm-imagenet", "--root", str(tmp_path / "imagenet"),
            "--backbone", BACKBONE, "--concepts", str(data["tmp"] / "concepts.txt"),
            "--device", "cpu", "--quiet"]  # fmt: skip
    assert main(argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "no synset file (LOC_synset_mapping.txt or synset_words.txt or meta.bin) was found in"
        in err
    )
    assert str(tmp_path / "imagenet") in err
    assert "--set dataset.options.synset_names=PATH" in err
