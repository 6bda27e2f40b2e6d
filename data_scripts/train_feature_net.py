#!/usr/bin/env python
"""Train the small feature network that ``i2i_keras.losses.PerceptualLoss`` uses by default.

    python data_scripts/train_feature_net.py [--epochs 6] [--out PATH.keras]

Why not VGG19: its ImageNet weights are an 80 MB download that an offline classroom may
not have, and its features describe photographs in colour. This network is small
(6 convolutions, ~72 k parameters, 0.3 MB) and learns features of the images the
tutorials use, with a task the phantoms label for free: name the tissue at the centre
of a 32 x 32 patch (12 classes, :data:`i2i_keras.phantoms.TISSUES`), from CT (HU
normalised by the full CT window [-1000, 2000] or the soft-tissue window [-160, 240],
noise 0-25 HU) or from T1-, T2- or PD-weighted MR (normalised by
:func:`i2i_keras.datasets.normalize_mr`). To name a tissue the network must see edges,
texture and context (a dark patch is air outside the head or air in a sinus; cortical
bone is dark on MR but bright on CT), which is what a perceptual loss should compare.

Architecture (VGG-style): blocks of two 3x3 conv + ReLU with 16, 32, 64 filters,
2x2 max-pooling between blocks; the saved model is this trunk alone (any input size,
(B, H, W, 1) in about [-1, 1] -> block3 features), with layers ``block{b}_conv{i}``.
For training only, the 2 x 2 centre of the block-3 map feeds a linear classifier.
Split by patient: phantoms 0-59 train, 60-69 validation.

Recorded run (the shipped weights; 2-core shared Intel Xeon, TensorFlow 2.21 CPU, Keras
3.15, 2026-11-30): 36 000 training and 6 000 validation patches in 4 s, 6 epochs of
~10 s; 66 s in all. Validation accuracy 0.634 over 12 classes (chance 0.083): air 0.97,
white matter 0.89, calcification 0.82, fat 0.74, marrow 0.72, muscle 0.61, grey matter
0.57, lesion 0.49, CSF 0.32, cortical bone 0.27 (a 2 mm table at 1.7 mm pixels, dark
on MR like air), air cavity 0.24, vessel 0.10. 71 792 parameters, 318 kB. Ten epochs
reached 0.644 in 106 s (training accuracy 0.69: more data, not more epochs, would help).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
try:
    import i2i_keras  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))

import keras  # noqa: E402
from keras import layers  # noqa: E402

from i2i_keras import datasets, phantoms  # noqa: E402

PATCH = 32
N_CLASSES = len(phantoms.TISSUES)
WINDOWS = (datasets.CT_WINDOW, datasets.IntensityWindow(-160.0, 240.0))


def images_of(patient: int, z: float, rng: np.random.Generator):
    """Five normalised views of one phantom slice (2 CT windows, T1, T2, PD) + labels."""
    head = phantoms.head_slice(128, seed=patient, z=z, lesions=patient % 2 == 0)
    ct = head.ct(noise_hu=rng.uniform(0.0, 25.0), seed=int(rng.integers(1 << 30)))
    views = [w.normalize(ct) for w in WINDOWS]
    views += [datasets.normalize_mr(head.mr(m, seed=int(rng.integers(1 << 30)))[None])[0]
              for m in ("T1", "T2", "PD")]
    return views, head.labels


def patches(patient_ids, per_image: int, seed: int):
    """(N, 32, 32, 1) float32 patches and (N,) tissue labels at their centres, half
    of the centres drawn uniformly in the head, half class-balanced."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    half = PATCH // 2
    for p in patient_ids:
        for z in (-0.5, 0.0, 0.5):
            views, labels = images_of(p, z, rng)
            flat = labels.ravel()
            counts = np.bincount(flat, minlength=N_CLASSES)
            body = (flat != phantoms.TISSUES["air"].label).astype(float)
            w = 0.5 * body / body.sum() + 0.5 * (1.0 / counts[flat]) / np.count_nonzero(counts)
            for view in views:
                padded = np.pad(view, half, mode="edge")
                for c in rng.choice(flat.size, per_image, p=w / w.sum()):
                    i, j = divmod(int(c), labels.shape[1])
                    patch = padded[i:i + PATCH, j:j + PATCH]
                    xs.append(np.rot90(patch, rng.integers(4))[:, :: rng.choice([-1, 1])])
                    ys.append(flat[c])
    return np.stack(xs)[..., None].astype(np.float32), np.asarray(ys, np.int32)


def feature_net() -> keras.Model:
    """The VGG-style trunk that is saved and used for the perceptual loss."""
    x = inputs = keras.Input((None, None, 1), name="image")
    for block, filters in enumerate((16, 32, 64), start=1):
        if block > 1:
            x = layers.MaxPooling2D(2, name=f"block{block - 1}_pool")(x)
        for i in (1, 2):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu",
                              name=f"block{block}_conv{i}")(x)
    return keras.Model(inputs, x, name="feature_net")


def classifier(trunk: keras.Model) -> keras.Model:
    x = inputs = keras.Input((PATCH, PATCH, 1))
    x = trunk(x)  # (8, 8, 64) for a 32 x 32 patch
    x = layers.Cropping2D(3)(x)  # the 2 x 2 centre: what the centre pixel's context says
    x = layers.Dense(N_CLASSES)(layers.Flatten()(x))
    return keras.Model(inputs, x)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--per-image", type=int, default=40, help="patches per image")
    parser.add_argument("--out", default=str(ROOT / "i2i_keras" / "weights" / "feature_net.keras"))
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    start = time.perf_counter()
    x_train, y_train = patches(range(60), args.per_image, seed=1)
    x_val, y_val = patches(range(60, 70), args.per_image, seed=2)
    t_data = time.perf_counter() - start
    print(f"{len(x_train)} training and {len(x_val)} validation patches in {t_data:.0f} s")
    trunk = feature_net()
    model = classifier(trunk)
    steps = args.epochs * int(np.ceil(len(x_train) / 128))
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(3e-3, steps)),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=128, epochs=args.epochs,
              validation_data=(x_val, y_val), verbose=2)
    _, acc = model.evaluate(x_val, y_val, verbose=0)
    pred = model.predict(x_val, verbose=0, batch_size=512).argmax(-1)
    per_class = {phantoms.NAMES_BY_LABEL[k]: float(np.mean(pred[y_val == k] == k))
                 for k in range(N_CLASSES) if np.any(y_val == k)}
    elapsed = time.perf_counter() - start
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    trunk.save(args.out)
    size_kb = Path(args.out).stat().st_size / 1024
    print(f"validation accuracy {acc:.3f} (chance {1 / N_CLASSES:.3f}); per class: "
          + ", ".join(f"{k} {v:.2f}" for k, v in per_class.items()))
    print(f"{trunk.count_params()} parameters, {size_kb:.0f} kB, {elapsed:.0f} s in all "
          f"({t_data:.0f} s making patches); saved {args.out}")


if __name__ == "__main__":
    main()
