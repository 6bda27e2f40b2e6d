"""Time to quality: MR -> CT on the phantoms, our tutorial recipes against the reference
recipes, each trained for the same wall-clock budget in one process, taking turns.

    python benchmarks/time_to_quality.py [--budget-minutes 4] [--task pix2pix|cyclegan|both]
        [--chunk-seconds 20] [--out docs/time_to_quality] [--quick]

The race, per task:

- **pix2pix.** Ours: tutorial 03's recipe on a CPU (``recipes.Settings()`` with 03's 160
  patients: 64² images, U-Net of depth 3 with 16 base filters and instance norm, a
  34x34 PatchGAN, batch 4, Adam 4e-4 with beta_1 0.5 decayed linearly to 0, vanilla GAN
  loss + 100 x L1, float32, ``recipes.build_pix2pix`` trained by ``fit``). The reference:
  the TensorFlow pix2pix tutorial's recipe (``reference_gan.py``: its U-Net with
  log2(64) = 6 levels instead of 8, the only change the image size forces; its 70x70
  PatchGAN; batch norm; BCE + 100 x L1; Adam 2e-4, beta_1 0.5, constant; batch 1),
  trained by the project's reference loop (``reference_gan.pix2pix_train_step``, the
  tutorial's two-tape ``tf.function``) over a Python iterator, as the tutorial does.
- **CycleGAN.** Ours: tutorial 04's recipe (its U-Net generators, its PatchGANs with the
  CT critic's soft-tissue window channels, LSGAN, cycle 10, no identity loss, TV 3, air
  prior 10, Adam 2e-4 held for half the run then decayed to 0, batch 1, ``fit``). The
  reference: keras-io's CycleGAN recipe (``reference_gan.keras_io_*``: ResNet generator
  with 9 residual blocks, C64-C512 discriminator, least squares, cycle 10, identity 0.5,
  four constant Adam(2e-4, 0.5), batch 1), through ``reference_gan.cyclegan_train_step``,
  keras-io's one-tape step. Domain A: the MRs of half of the training patients; domain
  B: the CTs of the other half (tutorial 04's split).

Both recipes of a task see the same training patients through the same augmentation
(flips, shifts of up to 4 pixels: ``datasets.paired_dataset`` / ``unpaired_dataset``),
and are scored on the same validation patients: MAE in HU inside the body
(``metrics.mae``, body mask from the phantom labels, the CT back in HU by
``CT_WINDOW.denormalize``). The reference pix2pix is evaluated as its tutorial runs it,
image by image with ``training=True`` (batch-norm statistics of the image itself,
dropout on), and also with dropout off; its curve keeps the lower of the two MAEs at
each evaluation (the more generous to the reference).

Timing: one process, so TensorFlow's thread settings (printed) are the same for both.
The recipes take turns in chunks of ``--chunk-seconds`` of training (who goes first
alternates every round) until each has trained for ``--budget-minutes``, so a change of
the machine's speed touches both alike. Only training is on the clock: our chunk is one
``fit`` call (its start-up and the first call's tracing included), the reference's a
loop of step calls (the first call's tracing included). Each chunk ends after the step
during which its time ran out, then the validation MAE is measured off the clock.

Our recipes decay their learning rate to zero over the run; here the run is the time
budget, so the length of that schedule (in steps) is re-planned after each chunk from
the steps per second of the chunk just finished (``BudgetDecay``; from the second chunk
on: the first one's speed includes the tracing; until then the tutorial's own schedule
length stands). Tutorial 03's sample
grid, progress bar and NaN guard are left out (they do not change what is learned).

Reported: the reference's final validation MAE, the training time at which each recipe
first reaches it (linear interpolation between the two evaluations around the
crossing), their ratio, and for pix2pix a ``CLAIM HOLDS`` / ``CLAIM FAILS`` line for the
bar "ours reaches it in at most a third of the reference's time". Written: a plot of
validation MAE against training minutes, and the curves and summary as JSON and
Markdown, with the machine and the date (``<out>.png``, ``<out>.json``, ``<out>.md``).
``--quick`` (tiny data, 32² images, one turn each, a keras-io generator with one
residual block, TensorFlow functions run eagerly) checks that everything runs, in
seconds; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import i2i_keras as i2i  # noqa: E402

i2i.environment.quiet_start()
import keras  # noqa: E402
import numpy as np  # noqa: E402
import reference_gan  # noqa: E402  (this folder)
from keras import ops  # noqa: E402

W = i2i.datasets.CT_WINDOW
BAR = 3.0  # pix2pix: ours must reach the reference's final MAE in <= 1/BAR of its time


def time_to_reach(seconds, mae_hu, target: float) -> float | None:
    """The first training time (s) at which a curve reaches ``target`` MAE (HU): linear
    interpolation between the last evaluation above it and the first at or below it;
    the first evaluation's time if that is already at or below; None if never.

    >>> time_to_reach([0, 10, 20, 30], [500, 300, 100, 50], 200)
    15.0
    >>> time_to_reach([0, 10], [500, 300], 200) is None
    True
    """
    for i, (t, m) in enumerate(zip(seconds, mae_hu)):
        if m <= target:
            if i == 0:
                return float(t)
            t0, m0 = seconds[i - 1], mae_hu[i - 1]
            return float(t0 + (m0 - target) / (m0 - m) * (t - t0))
    return None


class BudgetDecay(keras.optimizers.schedules.LearningRateSchedule):
    """The recipes' :class:`i2i_keras.training.LinearDecay` (``initial`` held for
    ``hold_fraction`` of the run, then linear to 0 at its end) with a run length in steps
    that is a variable: :meth:`plan` re-estimates it from the measured speed, so the
    rate reaches 0 when the time budget runs out.

    >>> s = BudgetDecay(4e-4, total_steps=100, hold_fraction=0.5)
    >>> [round(float(s(k)), 6) for k in (0, 50, 75, 100)]
    [0.0004, 0.0004, 0.0002, 0.0]
    >>> s.plan(steps_done=40, steps_per_second=2.0, seconds_left=30.0)  # 40 + 60 steps
    >>> float(s.total_steps.numpy())
    100.0
    """

    def __init__(self, initial: float, total_steps: int, hold_fraction: float = 0.0):
        self.initial, self.hold_fraction = float(initial), float(hold_fraction)
        self.total_steps = keras.Variable(float(max(1, total_steps)), dtype="float32",
                                          trainable=False, name="planned_steps")

    def __call__(self, step):
        step = ops.cast(step, "float32")
        total = ops.convert_to_tensor(self.total_steps)
        hold = self.hold_fraction * total
        done = (step - hold) / ops.maximum(total - hold, 1.0)
        return self.initial * ops.clip(1.0 - done, 0.0, 1.0)

    def plan(self, steps_done: int, steps_per_second: float, seconds_left: float) -> None:
        """Make the run end ``seconds_left`` of training from now at this speed."""
        self.total_steps.assign(float(max(steps_done + 1,
                                          steps_done + steps_per_second * max(seconds_left, 0))))


class _StopAt(keras.callbacks.Callback):
    """Stop ``fit`` after the step during which ``deadline`` (perf_counter) passed."""

    def __init__(self, deadline: float):
        super().__init__()
        self.deadline, self.steps = deadline, 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if time.perf_counter() >= self.deadline:
            self.model.stop_training = True


@dataclasses.dataclass
class Recipe:
    """One side of a race: ``train_for(seconds) -> steps`` trains (on the clock),
    ``predict(x) -> normalised CT`` runs the generator (off the clock), ``on_chunk_end``
    is told the steps done, the last chunk's steps/s and the training seconds left."""

    name: str
    description: str
    batch_size: int
    train_for: Callable[[float], int]
    predict: Callable[[np.ndarray], np.ndarray | dict]
    on_chunk_end: Callable[[int, float, float], None] = lambda steps, rate, left: None


def our_recipe(name: str, description: str, trainer, dataset, schedule: BudgetDecay,
               generator, batch_size: int) -> Recipe:
    """Our trainer through ``fit``, one call per chunk; its optimizers follow
    ``schedule`` (set here, in place of the recipe's fixed-length LinearDecay)."""
    for optimizer in (trainer.g_optimizer, trainer.d_optimizer):
        optimizer.learning_rate = schedule

    def train_for(seconds: float) -> int:
        stop = _StopAt(time.perf_counter() + seconds)
        trainer.fit(dataset, epochs=10 ** 6, verbose=0, callbacks=[stop])
        return stop.steps

    return Recipe(name, description, batch_size, train_for,
                  lambda x: generator.predict(x, batch_size=32, verbose=0),
                  lambda steps, rate, left: schedule.plan(steps, rate, left))


def reference_recipe(name: str, description: str, step, dataset, predict,
                     batch_size: int) -> Recipe:
    """A reference ``tf.function`` step called in a plain loop over one iterator that
    lives across chunks, as the tutorials' loops do."""
    batches = iter(dataset.repeat())

    def train_for(seconds: float) -> int:
        start, steps = time.perf_counter(), 0
        while True:
            losses = step(*next(batches))
            steps += 1
            if time.perf_counter() - start >= seconds:
                break
        float(losses[0])  # the last step has finished
        return steps

    return Recipe(name, description, batch_size, train_for, predict)


def per_image_predictor(generator, dropout: bool):
    """The TensorFlow pix2pix tutorial's inference, ``generator(x, training=True)`` one
    image at a time (batch norm uses the image's own statistics, as in its training at
    batch 1), with its dropout on or off. Returns x (N, H, W, C) -> (N, H, W, C)."""
    import tensorflow as tf

    spec = tf.TensorSpec((1,) + tuple(generator.input_shape[1:]), "float32")
    run = tf.function(lambda image: generator(image, training=True), input_signature=[spec])
    drops = [layer for layer in generator._flatten_layers()
             if isinstance(layer, keras.layers.Dropout)]

    def predict(x):
        rates = [d.rate for d in drops]
        if not dropout:  # traced (or, run eagerly, called) with no dropout
            for d in drops:
                d.rate = 0.0
        try:
            return np.concatenate([run(x[i:i + 1]).numpy() for i in range(len(x))])
        finally:
            for d, rate in zip(drops, rates):
                d.rate = rate

    return predict


def settings(quick: bool) -> i2i.recipes.Settings:
    """Tutorial 03's CPU settings (64², 160 patients, 40 epochs), or quick mode's at 32²."""
    if quick:
        return dataclasses.replace(i2i.recipes.Settings.for_hardware(quick=True), size=32)
    return dataclasses.replace(i2i.recipes.Settings(), patients=160, epochs=40)


def mr_ct_data(s: i2i.recipes.Settings, quick: bool) -> dict:
    """Phantom MR/CT pairs split by patient (70/15/15), cached after the first full run."""

    def make(patients, slices, size):
        d = i2i.phantoms.mr_ct_pairs(patients, slices, size=size, progress=not quick)
        return {k: d[k] for k in ("mr", "ct", "labels", "patient")}

    params = dict(patients=list(range(s.patients)), slices=s.slices_per_patient, size=s.size)
    data = make(**params) if quick else i2i.datasets.cached("time_to_quality_pairs", make,
                                                            **params)
    return i2i.datasets.split_pairs(data, seed=s.seed)


def pix2pix_recipes(s, data) -> dict[str, Recipe]:
    train = data["train"]
    steps_per_epoch = len(train["x"]) // s.batch_size
    keras.utils.set_random_seed(s.seed)
    gan = i2i.recipes.build_pix2pix(s, steps_per_epoch)
    ours = our_recipe(
        "ours", f"tutorial 03: U-Net depth {s.depth} x {s.base_filters} filters, instance "
        f"norm; PatchGAN {s.d_layers} layers x {s.d_filters}; batch {s.batch_size}; Adam "
        f"{s.learning_rate:g} decayed to 0 over the budget; fit", gan,
        i2i.datasets.paired_dataset(train["x"], train["y"], s.batch_size, augment=True,
                                    max_shift=4, seed=s.seed),
        BudgetDecay(s.learning_rate, s.epochs * steps_per_epoch), gan.generator, s.batch_size)
    keras.utils.set_random_seed(s.seed)
    generator = reference_gan.unet_generator(s.size, 1)
    discriminator = reference_gan.patchgan(s.size, 1)
    with_dropout, without = (per_image_predictor(generator, d) for d in (True, False))
    reference = reference_recipe(
        "reference", f"TensorFlow pix2pix tutorial: U-Net of {s.size.bit_length() - 1} "
        "levels, 70x70 PatchGAN, batch norm, batch 1, Adam 2e-4 constant; its tf.function "
        "step", reference_gan.pix2pix_train_step(generator, discriminator),
        i2i.datasets.paired_dataset(train["x"], train["y"], 1, augment=True, max_shift=4,
                                    seed=s.seed),
        lambda x: {"dropout on (tutorial)": with_dropout(x), "dropout off": without(x)}, 1)
    return {"ours": ours, "reference": reference}


def cyclegan_recipes(s, data, residual_blocks: int = 9) -> dict[str, Recipe]:
    train = data["train"]
    patients = np.unique(train["patient"])
    in_a = np.isin(train["patient"], patients[0::2])
    a, b = train["x"][in_a], train["y"][~in_a]  # MR of half the patients, CT of the others
    unpaired = i2i.datasets.unpaired_dataset(a, b, 1, augment=True, max_shift=4, seed=s.seed)
    steps_per_epoch = min(len(a), len(b))
    shape = (s.size, s.size, 1)
    windows = [(float(W.normalize(lo)), float(W.normalize(hi)))
               for lo, hi in ((-400.0, 600.0), (-160.0, 240.0))]
    keras.utils.set_random_seed(s.seed)
    unet = lambda name: i2i.models.unet(shape, depth=s.depth, base_filters=s.base_filters,  # noqa: E731
                                        norm="instance", name=name)
    critic = lambda name, w=(): i2i.models.patchgan(  # noqa: E731
        shape, n_layers=s.d_layers, base_filters=s.d_filters, conditional=False, windows=w,
        name=name)
    gan = i2i.training.CycleGAN(unet("mr_to_ct"), unet("ct_to_mr"), critic("mr_critic"),
                                critic("ct_critic", windows))
    schedule = BudgetDecay(2e-4, 12 * steps_per_epoch, hold_fraction=0.5)  # 04: 12 epochs
    gan.compile(keras.optimizers.Adam(schedule, beta_1=0.5),
                keras.optimizers.Adam(schedule, beta_1=0.5),
                lambda_cycle=10.0, lambda_identity=0.0, gan_loss="lsgan", lambda_tv=3.0,
                lambda_air=10.0, air_thresholds={"ct_air": float(W.normalize(-550.0)),
                                                 "ct_bone": float(W.normalize(300.0)),
                                                 "mr_dark": -0.3})
    ours = our_recipe(
        "ours", f"tutorial 04: U-Net generators depth {s.depth} x {s.base_filters}, "
        "PatchGANs (CT critic with 2 window channels), LSGAN, cycle 10, TV 3, air prior 10, "
        "batch 1, Adam 2e-4 held for half the budget then to 0; fit", gan, unpaired, schedule,
        gan.generator_ab, 1)
    keras.utils.set_random_seed(s.seed)
    nets = (reference_gan.keras_io_resnet_generator(s.size, 1, residual_blocks),
            reference_gan.keras_io_resnet_generator(s.size, 1, residual_blocks),
            reference_gan.keras_io_discriminator(s.size, 1),
            reference_gan.keras_io_discriminator(s.size, 1))
    reference = reference_recipe(
        "reference", f"keras-io CycleGAN: ResNet generators ({residual_blocks} blocks), C64-C512 "
        "discriminators, least squares, cycle 10, identity 0.5, batch 1, Adam 2e-4 constant; "
        "its one-tape step",
        reference_gan.cyclegan_train_step(nets, reference_gan.keras_io_cyclegan_losses),
        unpaired, lambda x: nets[0].predict(x, batch_size=32, verbose=0), 1)
    return {"ours": ours, "reference": reference}


def val_mae_hu(recipe: Recipe, val: dict, body: np.ndarray) -> dict[str, float]:
    """Validation MAE (HU, inside the body): ``mae_hu``, and each variant's when the
    recipe's ``predict`` gives several (the lowest is ``mae_hu``)."""
    out = recipe.predict(val["x"])
    variants = out if isinstance(out, dict) else {"": out}
    maes = {name: i2i.metrics.mae(W.denormalize(pred[..., 0]), val["ct"], body)
            for name, pred in variants.items()}
    row = {"mae_hu": min(maes.values())}
    if len(maes) > 1:
        row["mae_hu_by_variant"] = maes
    return row


def race(task: str, recipes: dict[str, Recipe], val: dict, budget_s: float,
         chunk_s: float) -> dict[str, list[dict]]:
    """Train the recipes in turns of ``chunk_s`` training seconds until each has had
    ``budget_s``; evaluate each after every chunk (and before the first) off the clock.
    Returns {name: [{"train_s", "steps", "images", "mae_hu", ...}, ...]}."""
    body = i2i.metrics.split_masks(val)["body"]
    curves = {n: [{"train_s": 0.0, "steps": 0, "images": 0, **val_mae_hu(r, val, body)}]
              for n, r in recipes.items()}
    names, turn = list(recipes), 0
    while any(curves[n][-1]["train_s"] < budget_s for n in names):
        for name in names if turn % 2 == 0 else names[::-1]:
            last, recipe = curves[name][-1], recipes[name]
            if last["train_s"] >= budget_s:
                continue
            start = time.perf_counter()
            steps = recipe.train_for(min(chunk_s, budget_s - last["train_s"]))
            seconds = time.perf_counter() - start
            used, done = last["train_s"] + seconds, last["steps"] + steps
            if len(curves[name]) > 1:  # (the first chunk's speed includes the tracing)
                recipe.on_chunk_end(done, steps / seconds, budget_s - used)
            row = {"train_s": round(used, 2), "steps": done,
                   "images": done * recipe.batch_size, **val_mae_hu(recipe, val, body)}
            curves[name].append(row)
            print(f"  {task:8s} {name:9s} {used:7.1f} s trained, {done:6d} steps, "
                  f"val MAE {row['mae_hu']:7.1f} HU", flush=True)
        turn += 1
    return curves


def summarize(task: str, curves: dict[str, list[dict]]) -> dict:
    """The reference's final MAE, when each curve first reaches it, and their ratio."""
    target = curves["reference"][-1]["mae_hu"]
    reach = {n: time_to_reach([p["train_s"] for p in c], [p["mae_hu"] for p in c], target)
             for n, c in curves.items()}
    ratio = (None if reach["ours"] is None  # the reference always reaches its own final
             else reach["reference"] / max(reach["ours"], 1e-3))
    out = {"target_mae_hu": round(target, 2), "time_to_target_s": reach,
           "speedup": None if ratio is None else round(ratio, 2),
           "final_mae_hu": {n: round(c[-1]["mae_hu"], 2) for n, c in curves.items()},
           "images_per_s": {n: round(c[-1]["images"] / c[-1]["train_s"], 1)
                            for n, c in curves.items()}}
    numbers = (f"reference final val MAE {target:.1f} HU, reached by the reference at "
               f"{_s(reach['reference'])}, by ours at {_s(reach['ours'])}"
               + ("" if ratio is None else f": {ratio:.2f}x"))
    print(f"{task}: {numbers}")
    if task == "pix2pix":
        claim = (f"our pix2pix recipe reaches the reference recipe's final validation MAE in "
                 f"at most 1/{BAR:g} of the reference's training time")
        holds = i2i.claims.check(claim, ratio is not None and ratio >= BAR, numbers)
        out["bar"] = {"claim": claim, "holds": holds}
    return out


def _s(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.0f} s"


def machine() -> dict:
    """What the numbers depend on: i2i_keras' config, the CPU, TensorFlow's threads."""
    import tensorflow as tf

    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) \
        if Path("/proc/cpuinfo").exists() else platform.processor()
    config = {k: v for k, v in i2i.environment.config().items()
              if k not in ("data folder", "mode")}  # (the tutorials' mode, not ours)
    return {**config, "cpu": cpu, "cores": os.cpu_count(),
            "tf intra-op threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "tf inter-op threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "date": time.strftime("%Y-%m-%d %H:%M")}


def plot(result: dict, path: Path) -> None:
    """Validation MAE against training minutes, one panel per task, target and
    crossings marked."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = result["tasks"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4), squeeze=False)
    for ax, (task, t) in zip(axes[0], tasks.items()):
        for name, rec in t["recipes"].items():
            c = rec["curve"]
            line, = ax.plot([p["train_s"] / 60 for p in c], [p["mae_hu"] for p in c],
                            marker="o", ms=3,
                            label=f"{name} ({rec['description'].split(':')[0]})")
            hit = t["time_to_target_s"][name]
            if hit is not None:
                ax.axvline(hit / 60, color=line.get_color(), ls=":", lw=1)
        ax.axhline(t["target_mae_hu"], color="k", ls="--", lw=1,
                   label=f"reference's final MAE {t['target_mae_hu']:.0f} HU")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.set_xlabel("training time (min), evaluation excluded")
        ax.set_ylabel("validation MAE in the body (HU)")
        speed = t["speedup"]
        ax.set_title(f"{task}: ours " + ("never reaches the dashed line" if speed is None
                                          else f"reaches the dashed line {speed:.2f}x sooner"))
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    m = result["machine"]
    fig.suptitle(f"MR -> CT time to quality, {m['cpu']} ({m['cores']} cores), {m['date']}",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [f"# Time to quality, MR -> CT phantoms ({m['date']})", "",
             f"Machine: {m['cpu']}, {m['cores']} cores ({m['device']}); TensorFlow "
             f"{m.get('tensorflow', '?')}, Keras {m['keras']}; TF threads intra "
             f"{m['tf intra-op threads']}, inter {m['tf inter-op threads']} (0: TF's default). "
             f"Budget {result['budget_s']:.0f} s of training per recipe, in turns of "
             f"{result['chunk_s']:.0f} s; {result['data']}." + (" QUICK MODE: numbers mean "
                                                                "nothing." if result["quick"]
                                                                else ""), ""]
    for task, t in result["tasks"].items():
        lines += [f"## {task}", "", "| recipe | images/s | final val MAE (HU) | reaches "
                  f"{t['target_mae_hu']:.1f} HU at (s) |", "|---|---:|---:|---:|"]
        for name, rec in t["recipes"].items():
            hit = t["time_to_target_s"][name]
            lines.append(f"| {name}: {rec['description']} | {t['images_per_s'][name]} | "
                         f"{t['final_mae_hu'][name]} | "
                         f"{'never' if hit is None else f'{hit:.0f}'} |")
        speed = "never reached by ours" if t["speedup"] is None else f"{t['speedup']:.2f}x"
        lines += ["", f"Speed-up to the reference's final MAE: {speed} (crossings "
                  "interpolated linearly between evaluations)."]
        if "bar" in t:
            lines.append(f"CLAIM {'HOLDS' if t['bar']['holds'] else 'FAILS'}: "
                         f"{t['bar']['claim']}.")
        lines += ["", "| recipe | training s | steps | val MAE (HU) |", "|---|---:|---:|---:|"]
        for name, rec in t["recipes"].items():
            lines += [f"| {name} | {p['train_s']:.0f} | {p['steps']} | {p['mae_hu']:.1f} |"
                      for p in rec["curve"]]
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget-minutes", type=float, default=None,
                   help="training time of each recipe (default 4; quick: 0.01)")
    p.add_argument("--task", choices=["pix2pix", "cyclegan", "both"], default="both")
    p.add_argument("--chunk-seconds", type=float, default=None,
                   help="training time of one turn (default 20; quick: 0.6)")
    p.add_argument("--out", default=None, help="path prefix of the .png/.json/.md written "
                   "(default docs/time_to_quality; quick: a temporary folder)")
    p.add_argument("--quick", action="store_true", help="tiny data, seconds (for the tests)")
    a = p.parse_args(argv)
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("the reference loops are TensorFlow steps: run with "
                         "KERAS_BACKEND=tensorflow")
    import tensorflow as tf

    warnings.filterwarnings("ignore", message="Even though the `tf.config.experimental_run")
    eager = tf.config.functions_run_eagerly()
    # Quick: a few steps run eagerly in far less time than tracing them would take.
    tf.config.run_functions_eagerly(a.quick or eager)
    try:
        return run(a)
    finally:  # main() may be called inside a test process
        tf.config.run_functions_eagerly(eager)
        keras.mixed_precision.set_global_policy("float32")


def run(a: argparse.Namespace) -> dict:
    """The races :func:`main`'s arguments ask for; the result as written to JSON."""
    budget_s = 60 * (a.budget_minutes or (0.01 if a.quick else 4.0))
    chunk_s = a.chunk_seconds or (0.6 if a.quick else 20.0)
    out = Path(a.out or (Path(tempfile.mkdtemp()) / "time_to_quality" if a.quick
                         else "docs/time_to_quality"))
    out.parent.mkdir(parents=True, exist_ok=True)
    s = settings(a.quick)
    keras.mixed_precision.set_global_policy(s.precision)
    info = machine()
    print("\n".join(f"{k:22s} {v}" for k, v in info.items()))
    data = mr_ct_data(s, a.quick)
    val = data["val"]
    summary = (f"{s.size}² phantoms, {len(data['train']['x'])} training slices of "
               f"{len(np.unique(data['train']['patient']))} patients, validation "
               f"{len(val['x'])} slices of {len(np.unique(val['patient']))} patients")
    print(f"{summary}; {budget_s:.0f} s of training per recipe, turns of {chunk_s:.0f} s")
    result = {"quick": a.quick, "machine": info, "budget_s": budget_s, "chunk_s": chunk_s,
              "data": summary, "tasks": {}}
    tasks = ["pix2pix", "cyclegan"] if a.task == "both" else [a.task]
    for task in tasks:
        recipes = (pix2pix_recipes(s, data) if task == "pix2pix" else
                   cyclegan_recipes(s, data, residual_blocks=1 if a.quick else 9))
        curves = race(task, recipes, val, budget_s, chunk_s)
        result["tasks"][task] = {
            "recipes": {n: {"description": r.description, "batch_size": r.batch_size,
                            "curve": curves[n]} for n, r in recipes.items()},
            **summarize(task, curves)}
    for suffix, text in ((".json", json.dumps(result, indent=1)), (".md", markdown(result))):
        out.with_suffix(suffix).write_text(text + "\n")
    plot(result, out.with_suffix(".png"))
    print(f"wrote {out}.json, {out}.md and {out}.png")
    return result


if __name__ == "__main__":
    main()
