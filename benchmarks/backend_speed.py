"""The same Pix2Pix training step on each Keras backend: TensorFlow, JAX and PyTorch.

    python benchmarks/backend_speed.py [--steps 20] [--backends tensorflow jax torch]
        [--precision float32|mixed_bfloat16|mixed_float16]
        [--steps-per-execution 1 8 32] [--model pix2pix|dense]

``--steps-per-execution`` runs each backend with each value (Keras' ``compile``
option: that many steps inside one compiled call, so the per-step host work of ``fit``
is paid once per call). ``--model dense`` swaps the Pix2Pix for one dense layer on 8
numbers at batch 1, whose step costs nearly nothing: what is left is that host work.

Keras fixes its backend when it is imported, so each backend runs in its own process
(this script again, with ``KERAS_BACKEND`` set). Each builds the quickstart's Pix2Pix as
:func:`i2i_keras.recipes.build_pix2pix` sizes it for the machine (on a CPU: 64²
images, a 3-level U-Net with 16 base filters and instance norm, a 2-layer PatchGAN,
batch 4, Adam with linear decay; on a GPU: 256², 5 levels, 32 filters, a 3-layer
PatchGAN, batch 8), under the dtype policy the quickstart picks for the machine
(``--precision`` to try another), compiled with the trainer's defaults for the backend
(TensorFlow graph, ``jax.jit``, eager PyTorch), and trains it with ``fit`` on in-memory
arrays. Reported: the first ``fit`` call (tracing/compiling plus ``--steps`` steps),
then milliseconds per step as the median of three more ``fit`` calls of ``--steps``
steps each. Backends that are not installed are skipped. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "jax", "torch")


def worker(steps: int, precision: str | None, per_execution: int = 1,
           model: str = "pix2pix") -> dict:
    import keras
    import numpy as np

    from i2i_keras import recipes

    s = recipes.Settings.for_hardware(quick=False)
    if precision:
        s = dataclasses.replace(s, precision=precision)
    keras.mixed_precision.set_global_policy(s.precision)  # as quickstart.run does
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    if model == "dense":  # the step costs ~nothing: what is measured is fit's host work
        s = dataclasses.replace(s, size=8, batch_size=1)
        gan = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
        gan.compile("sgd", "mse", steps_per_execution=per_execution)
        x, y = rng.uniform(-1, 1, (steps, 8)).astype("f4"), rng.uniform(-1, 1, (steps, 1))
    else:
        gan = recipes.build_pix2pix(s, steps_per_epoch=steps,
                                    steps_per_execution=per_execution)
        n = steps * s.batch_size
        x, y = (rng.uniform(-1, 1, (n, s.size, s.size, 1)).astype("float32") for _ in "xy")

    def run() -> float:
        start = time.perf_counter()
        gan.fit(x, y, batch_size=s.batch_size, epochs=1, shuffle=False, verbose=0)
        return time.perf_counter() - start

    first = run()
    ms = 1000.0 * float(np.median([run() for _ in range(3)])) / steps
    versions = {"keras": keras.__version__}
    backend = keras.backend.backend()
    versions[backend] = importlib.import_module(backend).__version__
    return {"backend": backend, "model": model, "size": s.size, "batch": s.batch_size,
            "steps": steps, "steps_per_execution": per_execution, "precision": s.precision,
            "first_fit_s": round(first, 2), "ms_per_step": round(ms, 1),
            "images_per_s": round(1000.0 * s.batch_size / ms, 1),
            "jit_compile": bool(gan.jit_compile), "versions": versions}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    p.add_argument("--precision", help="a Keras dtype policy instead of the one the "
                   "quickstart picks for the machine (e.g. float32, mixed_bfloat16)")
    p.add_argument("--steps-per-execution", type=int, nargs="+", default=[1])
    p.add_argument("--model", choices=("pix2pix", "dense"), default="pix2pix")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        result = worker(a.steps, a.precision, a.steps_per_execution[0], a.model)
        print("RESULT " + json.dumps(result))
        return
    print(f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    rows = []
    for backend in a.backends:
        if importlib.util.find_spec(backend) is None:
            print(f"{backend}: not installed, skipped")
            continue
        for per_execution in a.steps_per_execution:
            if backend == "torch" and per_execution > 1:
                print(f"torch: steps_per_execution={per_execution} skipped (Keras allows only "
                      "1 on PyTorch)")
                continue
            extra = ["--precision", a.precision] if a.precision else []
            proc = subprocess.run([sys.executable, __file__, "--worker", "--steps",
                                   str(a.steps), "--model", a.model,
                                   "--steps-per-execution", str(per_execution), *extra],
                                  env={**env, "KERAS_BACKEND": backend}, capture_output=True,
                                  text=True)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if proc.returncode or not lines:
                print(f"{backend}: failed\n{proc.stderr[-2000:]}")
                continue
            rows.append(json.loads(lines[-1][len("RESULT "):]))
    if not rows:
        return
    r0 = rows[0]
    what = "Pix2Pix" if r0["model"] == "pix2pix" else "one dense layer (host work only)"
    print(f"\n{what} {r0['size']}², batch {r0['batch']}, fit on in-memory arrays, "
          f"{r0['steps']} steps a call\n")
    print("| backend | precision | steps per execution | ms per step | images/s | "
          "first fit call (s) | compiled step |")
    print("|---|---|---:|---:|---:|---:|---|")
    for r in rows:
        how = {"tensorflow": "tf.function", "jax": "jax.jit", "torch": "eager"}[r["backend"]]
        if r["jit_compile"] and r["backend"] == "tensorflow":
            how += " + XLA"
        version = r["versions"][r["backend"]]
        print(f"| {r['backend']} {version} | {r['precision']} | {r['steps_per_execution']} | "
              f"{r['ms_per_step']} | {r['images_per_s']} | {r['first_fit_s']} | {how} |")
    print("\n" + json.dumps(rows))


if __name__ == "__main__":
    main()
