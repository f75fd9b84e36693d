"""The diagnosis zoo's building blocks: what a case is, the alarm kinds it is judged
on, and the small synthetic data sets its cases train on.

The cases themselves are in ``_zoo_healthy.py`` and ``_zoo_broken.py``;
``diagnosis.py`` runs them. Plain Python and numpy here (Keras is imported inside the
data helpers that need it), so the scoring and the listing never wait for TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: Every alarm kind the zoo judges, as the event log spells them. The first six are
#: kmon's since the alarms began; the last five come with issue #20 and, until they
#: exist, never fire (their broken cases then show as misses).
KINDS = (
    "prediction_variance",
    "vanishing_gradients",
    "exploding_gradients",
    "unscaled_data",
    "nonfinite_data",
    "nan_loss",
    "overfitting",
    "no_learning",
    "unstable_training",
    "dead_units",
    "class_collapse",
)

#: The issue's recall goal: each alarm raised by the end of the second epoch.
DEADLINE = 2

SEED = 0


@dataclass(frozen=True)
class Case:
    """One real, small training run and the alarms it must raise.

    Attributes:
        name: short and unique (``--only NAME``).
        what: the model, the data, and what is wrong with them (if anything).
        train: builds the model and data and calls ``fit()``; called after the
            random seeds are set, on kmon's training thread.
        expect: the alarm kinds it must raise by the end of epoch ``deadline``
            (empty: a healthy run, which must raise nothing, ever).
        allow: kinds that are true of this run too but not what it is about (a
            dead network's predictions are constant as well): raising them is
            neither a hit nor a false alarm. Each one says why in its case.
        fixes: for a healthy run, the broken cases whose advised fix it applies:
            their alarms must never fire on it.
        deadline: the epoch (1-based) by which each expected kind must be raised.
        quick: part of ``--quick`` (the test suite's run).
    """

    name: str
    what: str
    train: Callable[[], None]
    expect: frozenset[str] = frozenset()
    allow: frozenset[str] = frozenset()
    fixes: tuple[str, ...] = ()
    deadline: int = DEADLINE
    quick: bool = False

    def __post_init__(self) -> None:
        unknown = (self.expect | self.allow) - set(KINDS)
        if unknown:
            raise ValueError(f"{self.name}: unknown alarm kinds {sorted(unknown)}")
        if self.expect & self.allow:
            raise ValueError(f"{self.name}: a kind both expected and allowed")

    @property
    def healthy(self) -> bool:
        return not self.expect


def case(name, what, *, expect=(), allow=(), **options) -> Callable:
    """Decorator: the function becomes the ``train`` of a :class:`Case` named
    ``name`` (the decorated name is bound to the case)."""

    def wrap(train: Callable[[], None]) -> Case:
        return Case(name, what, train, frozenset(expect), frozenset(allow), **options)

    return wrap


# -- data ------------------------------------------------------------------------------


def rng(offset: int = 0):
    """numpy's generator for a case's data: the same rows on every run."""
    import numpy as np

    return np.random.default_rng(SEED + offset)


def blobs(n: int, features: int, classes: int, *, spread: float, weights=None, offset=0):
    """Gaussian clusters around random unit-norm-ish centres: a classification task
    whose difficulty ``spread`` (the clusters' std over the centres' distance) sets.

    Returns ``x`` (float32, n x features, about unit scale) and integer labels.
    """
    import numpy as np

    gen = rng(offset)
    centres = gen.normal(size=(classes, features)) / np.sqrt(features) * 3
    y = gen.choice(classes, size=n, p=weights)
    x = centres[y] + spread * gen.normal(size=(n, features))
    return x.astype("float32"), y.astype("int32")


def imbalanced_classes(n: int, *, offset=0):
    """Three classes in proportions 70/15/15 along one hidden direction of 10
    standardized features: the majority class spread wide around 0 (std 2), the two
    minority classes narrow (std 0.7) at +-1.5.

    Everywhere, a minority class is at most 3.9 times as likely as the majority
    one under its own distribution, less than the 4.7 to 1 the priors set against
    it: the best unweighted classifier predicts the majority class for every input
    (and still beats the prior's loss), while with balanced class weights each
    minority class wins around its centre.
    """
    import numpy as np

    gen = rng(offset)
    y = gen.choice(3, size=n, p=[0.7, 0.15, 0.15])
    t = np.array([0.0, 1.5, -1.5])[y] + np.array([2.0, 0.7, 0.7])[y] * gen.normal(size=n)
    x = np.concatenate([t[:, None], gen.normal(size=(n, 9))], axis=1)
    rotation, _ = np.linalg.qr(gen.normal(size=(10, 10)))
    x = x @ rotation
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x.astype("float32"), y.astype("int32")


def tabular_regression(n: int, features: int, *, noise: float = 0.1, offset=0):
    """A smooth nonlinear target of standard-normal features, standardized: an MLP
    fits it well within a few epochs."""
    import numpy as np

    gen = rng(offset)
    x = gen.normal(size=(n, features)).astype("float32")
    y = np.sin(x[:, 0]) + x[:, 1] * x[:, 2] + 0.5 * x[:, 3] + noise * gen.normal(size=n)
    y = (y - y.mean()) / y.std()
    return x, y[:, None].astype("float32")


def hourly_series(length: int, *, offset=0):
    """Hourly load in raw units (around 3,000): a daily and a weekly cycle, a slow
    trend, noise (the bundled ``lstm_constant_predictions`` scenario's series)."""
    import numpy as np

    gen = rng(offset)
    t = np.arange(length)
    return (
        3000
        + 800 * np.sin(2 * np.pi * t / 24)
        + 300 * np.sin(2 * np.pi * t / (24 * 7))
        + 0.5 * t
        + 60 * gen.normal(size=length)
    )


def windows(values, window: int, *, horizon: int = 1):
    """Sliding windows of a series: inputs (n, window, 1) and the next value(s)."""
    import numpy as np

    n = len(values) - window - horizon + 1
    x = np.stack([values[i : i + window] for i in range(n)])[..., None]
    if horizon == 1:
        y = values[window : window + n, None]
    else:
        y = np.stack([values[i + window : i + window + horizon] for i in range(n)])[..., None]
    return x.astype("float32"), y.astype("float32")


def standardized(x, y, rows: int):
    """``x`` and ``y`` standardized with the statistics of their first ``rows`` rows
    (what ``validation_split`` trains on), as the advice says."""
    mean, std = float(x[:rows].mean()), float(x[:rows].std())
    return (x - mean) / std, (y - mean) / std


def waves(n: int, steps: int, classes: int, *, noise: float = 0.3, offset=0):
    """Sequences of a noisy sine whose frequency is the class: (n, steps, 2) inputs
    (the wave and its square) and integer labels."""
    import numpy as np

    gen = rng(offset)
    y = gen.integers(0, classes, size=n)
    frequency = 0.5 + 0.7 * y
    phase = gen.uniform(0, 2 * np.pi, size=n)
    t = np.arange(steps) / 4
    wave = np.sin(frequency[:, None] * t[None, :] + phase[:, None])
    wave = wave + noise * gen.normal(size=wave.shape)
    x = np.stack([wave, wave**2 - 0.5], axis=-1)
    return x.astype("float32"), y.astype("int32")


def glyphs(n: int, classes: int, *, size: int = 12, noise: float = 0.5, offset=0):
    """Images (n, size, size, 1) of one of ``classes`` fixed random 3x3 glyphs at a
    random place, in noise: a CNN task (labels: which glyph)."""

    gen = rng(offset)
    shapes = gen.choice([-1.0, 1.0], size=(classes, 3, 3)) * 2
    y = gen.integers(0, classes, size=n)
    x = noise * gen.normal(size=(n, size, size))
    rows = gen.integers(0, size - 3, size=n)
    cols = gen.integers(0, size - 3, size=n)
    for i in range(n):
        x[i, rows[i] : rows[i] + 3, cols[i] : cols[i] + 3] += shapes[y[i]]
    return x[..., None].astype("float32"), y.astype("int32")


def all_cases() -> list[Case]:
    """Every case of the zoo: the healthy runs, then the broken ones and their fixes."""
    from _zoo_broken import BROKEN
    from _zoo_broken_learning import BROKEN as BROKEN_LEARNING
    from _zoo_healthy import HEALTHY

    cases = [*HEALTHY, *BROKEN, *BROKEN_LEARNING]
    names = [one.name for one in cases]
    if len(set(names)) != len(names):
        raise ValueError("two zoo cases share a name")
    return cases
