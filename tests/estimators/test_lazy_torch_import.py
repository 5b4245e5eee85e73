"""The numpy estimators work without importing torch (2.3 s of a 5 s `import`)."""

from __future__ import annotations

import subprocess
import sys


def test_numpy_estimators_do_not_import_torch():
    # Before, bottlekit/estimators/__init__.py imported the torch layer GaussianNoise and
    # the neural bounds eagerly: `import bottlekit.estimators` took 5.0 s, 2.3 s of it torch.
    code = (
        "import sys\nimport numpy as np\n"
        "from bottlekit.estimators import mutual_information, entropy\n"
        "x = np.random.default_rng(0).standard_normal((300, 2))\n"
        "mutual_information(x[:, 0], x[:, 1]); entropy(x)\n"
        "print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "False"


def test_torch_estimators_still_importable_from_the_package():
    import torch

    from bottlekit.estimators import GaussianNoise, NeuralMutualInformation, mutual_information
    from bottlekit.estimators.gaussian_noise_layer import GaussianNoise as defined

    assert GaussianNoise is defined and issubclass(GaussianNoise, torch.nn.Module)
    assert NeuralMutualInformation.__module__ == "bottlekit.estimators.neural"
    rng = __import__("numpy").random.default_rng(0)
    x = rng.standard_normal(400)
    y = x + 0.1 * rng.standard_normal(400)
    kw = {"max_steps": 60, "eval_every": 20, "random_state": 0}
    routed = mutual_information(x, y, method="mine", **kw)
    assert routed == NeuralMutualInformation(bound="mine", **kw).fit(x, y).mi_
