"""Fixture writers: tiny datasets in the exact on-disk formats of the real releases.

Each writer creates the files under a folder and returns what it wrote, so the tests can
check the parsed values one by one against it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

CUB_PARTS = [
    "back", "beak", "belly", "breast", "crown", "forehead", "left eye", "left leg",
    "left wing", "nape", "right eye", "right leg", "right wing", "tail", "throat",
]  # fmt: skip
CUB_ATTRIBUTES = [
    "has_bill_shape::dagger",
    "has_wing_color::blue",
    "has_wing_color::brown",
    "has_size::small_(5_-_9_in)",
    "has_breast_pattern::solid",
    "has_eye_color::black",
]
CUB_CLASSES = ["001.Black_footed Albatross", "002.Laysan.Albatross", "003.Sooty_Albatross"]


def image(path: Path, size=(32, 32), value: int = 0, fmt: str | None = None) -> None:
    """A small RGB image of ``size`` (W, H) whose red channel is ``value`` (0 to 255)."""
    if not 0 <= value <= 255:  # numpy >= 2 refuses it, numpy 1 wrapped it silently
        raise ValueError(f"value: expected a pixel value in [0, 255], got {value}")
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.zeros((size[1], size[0], 3), np.uint8)
    arr[..., 0] = value
    arr[..., 1] = np.arange(size[0], dtype=np.uint8)[None, :] * 3
    Image.fromarray(arr).save(path, format=fmt)


def red_value(i: int, start: int, step: int = 10) -> int:
    """Red value of a fixture's image ``i``: ``start + step i``, for steps of +-10 kept in
    [0, 250] by cycling every 26 images (neighbours always differ; the first images keep
    the values they had before the cycle)."""
    return (start + step * i) % 260


def write_cub(
    parent: Path, n_per_class: int = 4, seed: int = 0, attributes: list[str] | None = None
) -> dict:
    """CUB_200_2011 under ``parent`` (attributes.txt next to it, as the release has it);
    ``attributes``: the names in attributes.txt (default :data:`CUB_ATTRIBUTES`)."""
    rng = np.random.default_rng(seed)
    root = parent / "CUB_200_2011"
    (root / "attributes").mkdir(parents=True)
    (root / "parts").mkdir()
    names = CUB_ATTRIBUTES if attributes is None else attributes
    C, K, P = len(CUB_CLASSES), len(names), len(CUB_PARTS)
    n = C * n_per_class
    paths, labels, sizes = [], [], []
    for c, cls in enumerate(CUB_CLASSES):
        for j in range(n_per_class):
            name = cls.split(".", 1)[1].replace(" ", "_")
            paths.append(f"{cls}/{name}_00{j}.{j}_{c}.jpg")  # dots and a space in the path
            labels.append(c)
            sizes.append((40 + 8 * j, 30 + 6 * c))  # (W, H): sizes differ
    red = [red_value(i, 0) for i in range(n)]
    for i, (rel, (w, h)) in enumerate(zip(paths, sizes, strict=True)):
        image(root / "images" / rel, (w, h), value=red[i], fmt="JPEG")
    is_train = np.resize([1, 1, 0, 1], n)
    boxes = np.array([[2.0 + i % 3, 3.0, w - 8.0, h - 9.5] for i, (w, h) in enumerate(sizes)])
    present = rng.integers(0, 2, (n, K))
    certainty = rng.integers(1, 5, (n, K))
    rates = np.round(rng.uniform(0, 100, (C, K)), 4)
    kp = np.zeros((n, P, 3))
    for i, (w, h) in enumerate(sizes):
        vis = rng.integers(0, 2, P)
        xy = np.stack([rng.uniform(4, w - 4, P), rng.uniform(4, h - 4, P)], 1).round(1)
        kp[i] = np.concatenate([xy * vis[:, None], vis[:, None]], 1)
    kp[5, :, :] = 0  # an image with no visible part
    kp[0, CUB_PARTS.index("left wing")] = [10.0, 12.0, 1]
    kp[0, CUB_PARTS.index("right wing")] = [30.0, 12.0, 0]  # invisible: no disc

    def lines(rows) -> str:
        return "".join(" ".join(str(v) for v in r) + "\n" for r in rows)

    (root / "images.txt").write_text(lines((i + 1, p) for i, p in enumerate(paths)))
    (root / "classes.txt").write_text(lines((c + 1, nm) for c, nm in enumerate(CUB_CLASSES)))
    (root / "image_class_labels.txt").write_text(
        lines((i + 1, y + 1) for i, y in enumerate(labels))
    )
    (root / "train_test_split.txt").write_text(lines((i + 1, t) for i, t in enumerate(is_train)))
    (root / "bounding_boxes.txt").write_text(
        lines((i + 1, *(f"{v:.1f}" for v in b)) for i, b in enumerate(boxes))
    )
    (parent / "attributes.txt").write_text(lines((j + 1, a) for j, a in enumerate(names)))
    att = []
    for i in range(n):
        for j in range(K):
            row = [i + 1, j + 1, present[i, j], certainty[i, j], f"{rng.uniform(0, 20):.3f}"]
            if i == 3 and j == 1:
                row.insert(4, 0)  # the release has a few 6-column lines
            att.append(row)
    (root / "attributes" / "image_attribute_labels.txt").write_text(lines(att))
    (root / "attributes" / "class_attribute_labels_continuous.txt").write_text(lines(rates))
    (root / "attributes" / "certainties.txt").write_text(
        "1 not visible\n2 guessing\n3 probably\n4 definitely\n"
    )
    (root / "parts" / "parts.txt").write_text(lines((p + 1, nm) for p, nm in enumerate(CUB_PARTS)))
    (root / "parts" / "part_locs.txt").write_text(
        lines(
            (i + 1, p + 1, f"{kp[i, p, 0]:.1f}", f"{kp[i, p, 1]:.1f}", int(kp[i, p, 2]))
            for i in range(n)
            for p in range(P)
        )
    )
    return {
        "root": root,
        "paths": paths,
        "labels": np.array(labels),
        "sizes": sizes,
        "is_train": is_train.astype(bool),
        "boxes": boxes,
        "present": present,
        "certainty": certainty,
        "rates": rates,
        "keypoints": kp,
        "red": red,
    }


def write_waterbirds(parent: Path, cub: dict, extra_non_cub: bool = False) -> dict:
    """waterbird_complete95_forest2water2 whose images are the CUB fixture's birds (same
    paths and sizes) on other backgrounds."""
    root = parent / "waterbird_complete95_forest2water2"
    rows = []
    red = [red_value(i, 200, step=-10) for i in range(len(cub["paths"]))]
    for i, (rel, size) in enumerate(zip(cub["paths"], cub["sizes"], strict=True)):
        image(root / rel, size, value=red[i], fmt="JPEG")
        rows.append((i + 1, rel, int(cub["labels"][i] == 1), i % 3, (i // 2) % 2, f"b/{i}.jpg"))
    if extra_non_cub:
        image(root / "999.Other/other_1.jpg", (20, 20), fmt="JPEG")
        rows.append((99, "999.Other/other_1.jpg", 0, 0, 1, "b/x.jpg"))
    text = "img_id,img_filename,y,split,place,place_filename\n"
    text += "".join(",".join(str(v) for v in r) + "\n" for r in rows)
    (root / "metadata.csv").write_text(text)
    return {"root": root, "rows": rows, "red": red}


AWA_CLASSES = ["antelope", "grizzly+bear", "killer+whale"]
AWA_PREDICATES = ["black", "white", "blue", "stripes"]


def write_awa2(parent: Path, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    root = parent / "Animals_with_Attributes2"
    root.mkdir(parents=True)
    C, K = len(AWA_CLASSES), len(AWA_PREDICATES)
    binary = rng.integers(0, 2, (C, K))
    continuous = np.round(rng.uniform(0, 100, (C, K)), 2)
    continuous[0, 2] = -1.0  # the release has -1 entries
    (root / "classes.txt").write_text(
        "".join(f"\t{i + 1}\t{c}\n" for i, c in enumerate(AWA_CLASSES))
    )
    (root / "predicates.txt").write_text(
        "".join(f"\t{i + 1}\t{p}\n" for i, p in enumerate(AWA_PREDICATES))
    )
    (root / "predicate-matrix-binary.txt").write_text(
        "".join(" ".join(str(v) for v in r) + "\n" for r in binary)
    )
    (root / "predicate-matrix-continuous.txt").write_text(
        "".join("  ".join(f"{v:.2f}" for v in r) + "\n" for r in continuous)
    )
    (root / "trainclasses.txt").write_text("antelope\nkiller+whale\n")
    (root / "testclasses.txt").write_text("grizzly+bear\n")
    files = {}
    for c, cls in enumerate(AWA_CLASSES):
        files[cls] = [root / "JPEGImages" / cls / f"{cls}_{10001 + j}.jpg" for j in range(4)]
        for j, f in enumerate(files[cls]):
            image(f, (24, 20), value=c * 50 + j, fmt="JPEG")
    return {"root": root, "binary": binary, "continuous": continuous, "files": files}


CELEBA_ATTRIBUTES = ["5_o_Clock_Shadow", "Blond_Hair", "Male", "Smiling"]


def write_celeba(parent: Path, n: int = 12, seed: int = 0, layout: str = "flat") -> dict:
    """CelebA's text lists and aligned images: ``layout="flat"`` side by side in the root
    (as torchvision keeps them), ``"drive"`` as the official Google Drive / Dropbox
    share has them: ``Anno/`` (``list_attr_celeba.txt`` and the other lists, here
    ``identity_CelebA.txt``), ``Eval/list_eval_partition.txt``, and
    ``Img/img_align_celeba.zip`` extracted beside itself into ``Img/img_align_celeba/``.
    The returned ``attr``, ``partition_file`` and ``images`` are where those went."""
    rng = np.random.default_rng(seed)
    root = parent / "celeba"
    drive = {"flat": False, "drive": True}[layout]
    anno, evaluation, img = (root / "Anno", root / "Eval", root / "Img") if drive else (root,) * 3
    values = rng.choice([-1, 1], (n, len(CELEBA_ATTRIBUTES)))
    files = [f"{i + 1:06d}.jpg" for i in range(n)]
    partition = [0, 0, 1, 2] * (n // 4)
    images = img / "img_align_celeba"
    for i, f in enumerate(files):
        image(images / f, (18, 22), value=i, fmt="JPEG")
    lines = [f"{n}", " ".join(CELEBA_ATTRIBUTES) + " "]
    lines += [
        f + " " + " ".join(f"{v:2d}" for v in row) for f, row in zip(files, values, strict=True)
    ]
    anno.mkdir(parents=True, exist_ok=True)
    evaluation.mkdir(parents=True, exist_ok=True)
    (anno / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (evaluation / "list_eval_partition.txt").write_text(
        "".join(f"{f} {p}\n" for f, p in zip(files, partition, strict=True))
    )
    if drive:
        (anno / "identity_CelebA.txt").write_text(
            "".join(f"{f} {1 + i % 3}\n" for i, f in enumerate(files))
        )
        with zipfile.ZipFile(img / "img_align_celeba.zip", "w") as z:
            for f in files:
                z.write(images / f, f"img_align_celeba/{f}")
    return {
        "root": root,
        "values": values,
        "files": files,
        "partition": np.array(partition),
        "attr": anno / "list_attr_celeba.txt",
        "partition_file": evaluation / "list_eval_partition.txt",
        "images": images,
    }


def write_cifar(parent: Path, hundred: bool, seed: int = 0) -> dict:
    """The binary release: records of label byte(s) + 3072 channel-major pixels."""
    rng = np.random.default_rng(seed)
    root = parent / ("cifar-100-binary" if hundred else "cifar-10-batches-bin")
    root.mkdir(parents=True)
    files = (
        ["train.bin", "test.bin"]
        if hundred
        else [*(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin"]
    )
    out = {"root": root, "files": {}}
    for k, name in enumerate(files):
        n = 3 + k % 2  # a few records per file
        pixels = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        if hundred:
            labels = np.stack([rng.integers(0, 20, n), rng.integers(0, 100, n)], 1)
        else:
            labels = rng.integers(0, 10, (n, 1))
        rec = np.concatenate(
            [labels.astype(np.uint8), pixels.transpose(0, 3, 1, 2).reshape(n, -1)], axis=1
        )
        (root / name).write_bytes(rec.tobytes())
        out["files"][name] = (labels, pixels)
    if hundred:
        out["fine"] = [f"fine_{i}" for i in range(100)]
        out["coarse"] = [f"coarse_{i}" for i in range(20)]
        (root / "fine_label_names.txt").write_text("\n".join(out["fine"]) + "\n")
        (root / "coarse_label_names.txt").write_text("\n".join(out["coarse"]) + "\n")
    else:
        out["names"] = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                        "ship", "truck"]  # fmt: skip
        (root / "batches.meta.txt").write_text("\n".join(out["names"]) + "\n\n")
    # the pickled release's files next to them must not be read
    (root / "batches.meta").write_bytes(b"\x80\x04not-read")
    return out


#: torchvision's meta.bin names of the two classes of :func:`write_imagenet_like` and of
#: three others, as ``parse_devkit_archive`` makes them from the devkit's ``meta.mat``
#: (``tuple(words.split(", "))``): tuples of 2, 1 and 5 names (pickled as TUPLE2, TUPLE1
#: and MARK ... TUPLE).
IMAGENET_META_CLASSES = {
    "n01440764": ("tench", "Tinca tinca"),
    "n01443537": ("goldfish", "Carassius auratus"),
    "n02012849": ("crane",),
    "n01484850": (
        "great white shark", "white shark", "man-eater", "man-eating shark",
        "Carcharodon carcharias",
    ),
    "n03126707": ("crane",),
}  # fmt: skip


def write_imagenet_like(parent: Path, names: str = "synsets") -> dict:
    """ImageNet's ``train/<wnid>/`` and ``val/<wnid>/`` folders with the class names in
    ``LOC_synset_mapping.txt`` (``names="synsets"``), or as torchvision's ``ImageNet``
    leaves them (``names="torchvision"``): only in ``meta.bin``, written here by
    ``torch.save((wnid_to_classes, val_wnids), root / "meta.bin")`` itself, as
    ``torchvision.datasets.imagenet.parse_devkit_archive`` does."""
    root = parent / "imagenet"
    wnids = ["n01440764", "n01443537"]
    files = {}
    for split in ("train", "val"):
        for c, w in enumerate(wnids):
            files[(split, w)] = [root / split / w / f"{w}_{j}.JPEG" for j in range(3)]
            for j, f in enumerate(files[(split, w)]):
                image(f, (16, 16), value=40 * c + j, fmt="JPEG")
        (root / split / wnids[0] / "README.txt").write_text("not an image")
        (root / split / "n09999999").mkdir()  # an empty class folder
    if names == "synsets":
        (root / "LOC_synset_mapping.txt").write_text(
            "n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\n"
        )
    else:
        import torch

        assert names == "torchvision", names
        val_wnids = [w for w in wnids for _ in files[("val", w)]]
        torch.save((dict(IMAGENET_META_CLASSES), val_wnids), root / "meta.bin")
    return {"root": root, "wnids": wnids, "files": files}


HAM_HEADER = "lesion_id,image_id,dx,dx_type,age,sex,localization,dataset"


def write_ham10000(parent: Path) -> dict:
    root = parent / "ham10000"
    rows = [
        ("HAM_0000118", "ISIC_0027419", "bkl", "histo", "80.0", "male", "scalp"),
        ("HAM_0000118", "ISIC_0025030", "bkl", "histo", "80.0", "male", "scalp"),
        ("HAM_0002730", "ISIC_0026769", "nv", "follow_up", "", "female", "back"),
        ("HAM_0001466", "ISIC_0031633", "mel", "consensus", "25.0", "unknown", "face"),
        ("HAM_0002761", "ISIC_0029176", "vasc", "confocal", "45.0", "male", "back"),
        ("HAM_0005132", "ISIC_0025837", "akiec", "histo", "60.0", "female", "ear"),
    ]
    for i, r in enumerate(rows):
        folder = "HAM10000_images_part_1" if i % 2 == 0 else "HAM10000_images_part_2"
        image(root / folder / f"{r[1]}.jpg", (30, 20), value=i, fmt="JPEG")
    text = HAM_HEADER + "\n" + "".join(",".join(r) + ",vidir_modern\n" for r in rows)
    (root / "HAM10000_metadata.csv").write_text(text)
    return {"root": root, "rows": rows}


#: wnids at known positions of ImageNet-1k's sorted list (as bottlekit checks them)
IMAGENET_ANCHORS = {
    0: "n01440764",
    134: "n02012849",
    517: "n03126707",
    638: "n03710637",
    639: "n03710721",
    999: "n15075141",
}


def imagenet_wnids() -> list[str]:
    """1000 sorted wnids shaped as ImageNet-1k's: its real wnids at the anchor positions,
    stand-ins (consecutive numbers after the anchor before them) in between."""
    out, last = [], None
    for i in range(1000):
        if i in IMAGENET_ANCHORS:
            last = int(IMAGENET_ANCHORS[i][1:])
            out.append(IMAGENET_ANCHORS[i])
        else:
            last += 1
            out.append(f"n{last:08d}")
    assert out == sorted(out) and len(set(out)) == 1000
    return out
