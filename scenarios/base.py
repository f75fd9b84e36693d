"""The small interface every scenario implements: metadata plus a training function.

A scenario is a module with a ``SCENARIO`` attribute. ``train(variant)`` builds the
model and data and calls ``fit()`` itself, exactly like a user's script would, so
kmon monitors it through the same hooks. Keras is imported inside ``train`` only:
listing scenarios must stay instant.

A bundled scenario also carries the claims of the article it comes from
(:class:`Claim`), each tested by one of its variants. They are plain data: the
checks that read a run's events live in ``kmon.engine.view.claim_checks``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

#: Variant kinds, in the order the menu groups them, with their group headings.
KIND_HEADINGS = {
    "problem": "The problem",
    "example": "The article's examples",
    "remedy": "Its remedies",
    "cause": "Other causes it names",
    "fix": "Fixes",
}


@dataclass(frozen=True)
class Claim:
    """One claim of a source article, and how a run of one variant tests it.

    Attributes:
        text: the claim, quoted from the article.
        source: the article's file name (in ``shared/seeds``).
        variant: the variant whose run tests it.
        outcome: what that run must show for the verdict to stand.
        verdict: "holds", "does not hold" or "holds only when …", from running it.
        check: the name of the check that reads the run
            (``kmon.engine.view.claim_checks``).
    """

    text: str
    source: str
    variant: str
    outcome: str
    verdict: str
    check: str

    @property
    def holds(self) -> bool:
        """Whether the variant's run shows the claim true ("holds only when …" is
        true on the run that shows the condition)."""
        return not self.verdict.startswith("does not")


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
        kinds: variant -> its kind (a key of :data:`KIND_HEADINGS`); the menu
            groups variants by kind. Variants not named have none.
        replays: variant -> the article example it runs, e.g. ``"002 example 1"``.
        claims: the source article's claims, each tested by a variant.
        keras_output: variants that keep Keras's own progress output (their claims
            are about what the console prints); the others run with ``verbose=0``.
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
    kinds: dict[str, str] = field(default_factory=dict)
    replays: dict[str, str] = field(default_factory=dict)
    claims: tuple[Claim, ...] = ()
    keras_output: frozenset[str] = frozenset()

    @property
    def default_variant(self) -> str:
        return next(iter(self.variants))

    def grouped_variants(self) -> list[tuple[str, list[str]]]:
        """``(heading, variant names)`` in menu order: by kind, then the others."""
        groups: list[tuple[str, list[str]]] = []
        for kind, heading in KIND_HEADINGS.items():
            names = [name for name in self.variants if self.kinds.get(name) == kind]
            if names:
                groups.append((heading, names))
        rest = [name for name in self.variants if self.kinds.get(name) not in KIND_HEADINGS]
        if rest:
            groups.append(("Variants" if not groups else "Other variants", rest))
        return groups

    def claims_of(self, variant: str) -> list[Claim]:
        """The claims that ``variant``'s run tests."""
        return [claim for claim in self.claims if claim.variant == variant]
