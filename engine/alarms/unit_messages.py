"""The words of the ``dead_units`` and ``class_collapse`` alarms: one line for each
transition, from its evidence. Plain Python."""

from __future__ import annotations

from kmon.engine.alarms.kinds import RAISED


def dead_units_message(transition: str, evidence: dict) -> str:
    """One line for a dead-units transition of one layer (its evidence: ``layer``,
    ``activation``, ``dead``, ``units``, ``fraction``, ``probe_samples`` and, when
    raised, ``threshold`` and ``checks``)."""
    layer, dead, units = evidence["layer"], evidence["dead"], evidence["units"]
    counted = f"{dead} of {units} {evidence['activation']} units ({evidence['fraction']:.0%})"
    if transition != RAISED:
        return f"layer {layer}: units come back to life: {counted} output 0 for every probe sample"
    return (
        f"layer {layer}: {counted} output exactly 0 for all {evidence['probe_samples']:,} "
        f"probe samples (at least {evidence['threshold']:.0%} for {evidence['checks']} "
        "checks in a row): they pass no signal and get no gradient"
    )


def class_collapse_message(transition: str, evidence: dict) -> str:
    """One line for a class-collapse transition of one head (its evidence: ``head``,
    ``predicted_class``, ``predicted_share``, ``labels``, ``probe_samples`` and,
    when raised, ``threshold`` and ``checks``)."""
    head, cls = evidence["head"], evidence["predicted_class"]
    share = f"{evidence['predicted_share']:.0%}"
    if transition != RAISED:
        return (
            f"head {head}: predictions spread over the classes again "
            f"(class {cls} for {share} of the probe samples)"
        )
    return (
        f"head {head}: predicts class {cls} for {share} of the "
        f"{evidence['probe_samples']:,} probe samples, while its labels are "
        f"{', '.join(evidence['labels'])} (at least {evidence['threshold']:.0%} for "
        f"{evidence['checks']} checks in a row): accuracy alone does not show it"
    )
