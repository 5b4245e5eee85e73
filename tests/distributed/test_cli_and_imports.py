"""``--ray`` on the command line, and the optional extra staying optional."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bottlekit.app.cli import build_parser, main
from bottlekit.distributed.summary import EmbedSummary


@pytest.fixture()
def fake_embed_dataset(monkeypatch):
    """Replace embed_dataset with a recorder (no Ray needed)."""
    import bottlekit.distributed.pipeline as pipeline

    # the lowest-versions job has no Ray: only the arguments' path is under test here
    monkeypatch.setattr("bottlekit.app.cli.require_ray", lambda *a, **k: None)

    calls = []

    def fake(spec, source, out, **kw):
        calls.append({"spec": spec, "source": source, "out": out, **kw})
        return EmbedSummary(str(out), 4, 3, 3, 0, 1, 1, 0, [{"path": "x.png", "reason": "bad"}])

    monkeypatch.setattr(pipeline, "embed_dataset", fake)
    return calls


@pytest.mark.parametrize(
    ("argv", "address", "source"),
    [
        (["photos", "--ray"], None, "photos"),
        (["--ray", "photos"], None, "photos"),  # a lone value after --ray is the images
        (["--ray=ray://head:10001", "photos"], "ray://head:10001", "photos"),
        (["--ray", "auto", "a.tar", "b.tar"], "auto", ["a.tar", "b.tar"]),
    ],
)
def test_embed_ray_arguments(fake_embed_dataset, capsys, argv, address, source):
    base = ["embed", "--backbone", "world-tiny", "--out", "emb", "--shard-size", "128"]
    assert main([*base, *argv]) == 0
    call = fake_embed_dataset[0]
    assert call["address"] == address and call["source"] == source
    assert call["spec"] == ("world-tiny", None) and call["shard_size"] == 128
    out = capsys.readouterr().out
    assert "1 failed" in out and "x.png: bad" in out  # failures are printed, with reasons


def test_audit_ray_head_needs_a_bank_and_the_cbm_file_must_exist(capsys, tmp_path):
    pytest.importorskip("ray")
    args = ["audit", "--ray", "--backbone", "world-tiny", "--images", "x", "--out", "o"]
    assert main([*args, "--cbm", str(tmp_path / "m.safetensors")]) == 2  # --cbm is supported
    assert "no model file at" in capsys.readouterr().err
    assert main([*args, "--head", "h.safetensors"]) == 2
    assert "needs a concept bank (--bank FILE)" in capsys.readouterr().err
    parsed = build_parser().parse_args([*args, "--head", "h"])
    assert parsed.ray == "local" and parsed.shard_size == 512


def test_importing_bottlekit_does_not_import_ray():
    code = (
        "import sys, bottlekit, bottlekit.distributed, bottlekit.app.cli; "
        "from bottlekit.distributed import BackboneSpec, ConceptStats; "
        "print('ray' in sys.modules, 'pyarrow' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(
    "argv",
    [
        ["embed", "--ray", "photos", "--backbone", "world-tiny", "--out", "emb"],
        "audit --ray --backbone world-tiny --images x --out o --head h --bank b".split(),
    ],
)
def test_ray_not_installed_is_one_clear_line(monkeypatch, capsys, argv):
    """Without the [distributed] extra, --ray says what to install (no traceback)."""
    for module in ("ray", "ray.data", "pyarrow", "pyarrow.parquet"):
        monkeypatch.setitem(sys.modules, module, None)  # `import ray` now fails
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bottlekit {argv[0]}: error: --ray: needs Ray Data")
    assert 'pip install "bottlekit[distributed]"' in err
    assert "Traceback" not in err


def test_embed_dataset_has_no_test_hook_in_its_signature():
    # before: a test-only `_after_shard` parameter in the public signature (and help());
    # the hook is now a private module attribute (pipeline._AFTER_SHARD_HOOK)
    import inspect

    from bottlekit.distributed import embed_dataset

    assert [p for p in inspect.signature(embed_dataset).parameters if p.startswith("_")] == []
