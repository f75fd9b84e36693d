"""The small interface every scenario implements: metadata plus a training function.

A scenario is a module with a ``SCENARIO`` attribute. ``train(variant)`` builds the
model and data and calls ``fit()`` itself, exactly like a user's script would, so
kmon monitors it through the same hooks. Keras is imported inside ``train`` only:
listing scenarios must stay instant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Scenario:
    """A bundled, self-explaining training run.

    Attributes:
        name: command-line name, e.g. ``history_vs_console``.
        title: one line for menus.
        question: the confusion it replays, in the user's words.
        variants: variant name -> one-line description.
        explanation: why it happens, true for the installed Keras 3.
        symptom: what the user sees.
        look_at: where in kmon to look.
        train: ``train(variant)`` builds, compiles and fits.
        evaluate_training_data: ask kmon to evaluate the model on its training data
            at every epoch end, to show that number beside History's.
    """

    name: str
    title: str
    question: str
    variants: dict[str, str]
    explanation: str
    symptom: str
    look_at: str
    train: Callable[[str], object] = field(compare=False, repr=False)
    evaluate_training_data: bool = False

    @property
    def default_variant(self) -> str:
        return next(iter(self.variants))
