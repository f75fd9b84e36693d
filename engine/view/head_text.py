"""The sentences that explain a fit's heads: why a model logs so many losses and
metrics ("why 4 losses but 2 accuracies?"), and whether its total loss is the
weighted sum of the head losses, folded in a
:class:`~kmon.engine.view.head_board.HeadBoard`.
"""

from __future__ import annotations

from kmon.engine.events import STEP_MEAN
from kmon.engine.format import format_value, format_weight
from kmon.engine.head_map import head_kind
from kmon.engine.view.head_board import HeadBoard, SumCheck


def loss_formula(board: HeadBoard) -> str:
    """``1.0·a + 0.5·b + 2.0·c``: what the total is made of."""
    return " + ".join(
        f"{format_weight(entry['weight'])}·{head}"
        for head, entry in board.heads.items()
        if entry.get("loss") and entry.get("weight") is not None
    )


def heads_summary(board: HeadBoard) -> str:
    """How many losses and metrics this model logs, and why."""
    heads = board.heads
    if not heads:
        return "Heads: not known yet (Keras builds the compiled loss at the first step)."
    parts = [_loss_count(board)]
    quantities = board.quantities()[1:]
    if not quantities:
        parts.append("no metrics compiled")
    elif len(heads) == 1:
        parts.append("metrics: " + ", ".join(quantities))
    for quantity in quantities if len(heads) > 1 else []:
        having = [h for h in heads if (h, quantity) in board.keys]
        lacking = [h for h in heads if h not in having]
        if not lacking:
            parts.append(f"{quantity} on all {len(heads)} heads")
        else:
            text = f"{quantity} on {_count(len(having), 'head')}: {', '.join(having)}"
            parts.append(text + "; none on " + ", ".join(_kind(board, h) for h in lacking))
    if len(heads) > 1 and len(quantities) > 1:
        bare = [h for h in heads if not board.heads[h].get("metrics")]
        parts.append(
            "every head has a metric" if not bare else f"no metric at all on {', '.join(bare)}"
        )
    return "; ".join(parts)


def _loss_count(board: HeadBoard) -> str:
    heads = board.heads
    losing = [h for h, entry in heads.items() if entry.get("loss")]
    keyed = [h for h in losing if heads[h].get("loss_key")]
    formula = loss_formula(board)
    if len(heads) == 1:
        (head,) = heads
        loss = heads[head].get("loss") or "no loss"
        text = (
            f"1 loss: the total ({loss} on the only output, {head}; Keras logs "
            "per-head losses only for several)"
        )
    elif len(keyed) > 1:
        text = f"{len(keyed) + 1} losses = total + {_count(len(keyed), 'head')} (total = {formula})"
    else:
        text = (
            f"1 loss: the total = {formula or '?'} (a single loss: Keras logs per-head "
            "losses only when there are several)"
        )
    without = [h for h in heads if h not in losing]
    if without:
        text += f"; no loss on {', '.join(without)} (not trained)"
    return text


def _kind(board: HeadBoard, head: str) -> str:
    entry = board.heads[head]
    kind = head_kind(entry)
    label = "classifier" if kind.classification else "regression" if kind.regression else ""
    return f"{head} ({label}: {str(entry.get('loss') or '').lower()})" if label else head


def sum_check_text(board: HeadBoard) -> str:
    """Whether the total equals the weighted sum of the head losses, and why not."""
    terms = board.loss_terms
    if not terms:
        if len(board.heads) == 1:
            return "One output: the total is its loss; there is nothing to add up."
        return "Keras logs only the total here: there are no head losses to add up."
    formula = loss_formula(board)
    check = board.last_check or (board.check if board.check.batches else None)
    epoch = board.checked_epoch if board.last_check else board.epoch
    if check is None:
        if board.epochs_done:
            text = "Not checked per batch: per-batch values are not recoverable for this input."
        else:
            text = f"total = {formula}: checked on every batch as training runs."
        return text + _history_sentence(board, formula, None)
    where = f"{_count(check.batches, 'batch')} of epoch {(epoch or 0) + 1}"
    if check.holds:
        text = (
            f"Per batch, total = {formula} holds ({where}; largest difference "
            f"{check.worst:.1e} of the total)."
        )
    else:
        gap = check.mean_gap
        side = "above" if gap > 0 else "below"
        text = (
            f"Per batch, the total is {format_value(abs(gap))} {side} {formula} on "
            f"average ({where}): {_why_gap(board)}."
        )
    return text + _history_sentence(board, formula, check)


def _why_gap(board: HeadBoard) -> str:
    if board.extra_losses:
        shown = ", ".join(board.extra_losses[:3])
        more = f" and {len(board.extra_losses) - 3} more" if len(board.extra_losses) > 3 else ""
        return f"the total also holds what no head reports: {shown}{more}"
    return (
        "something adds to the total that no head reports, e.g. a layer's add_loss() "
        "or a custom train_step()"
    )


def _history_sentence(board: HeadBoard, formula: str, check: SumCheck | None) -> str:
    gap = board.history_gap
    if gap is None or not gap.visible:
        return ""
    text = (
        f" History (epoch {gap.epoch + 1}): loss {format_value(gap.total)}, but its "
        f"head losses weigh up to {format_value(gap.weighted)}"
    )
    step_mean = any(kind == STEP_MEAN for kind in board.kinds.values())
    if step_mean and gap.last_size and gap.last_size < gap.largest:
        text += (
            ": Keras averages the total over samples but each head's loss over steps "
            f"(TensorFlow), and the last batch had {gap.last_size} samples, not "
            f"{gap.largest}"
        )
    elif check is not None and not check.holds:
        text += ": the same extra term"
    return text + "."


def _count(count: int, noun: str) -> str:
    if count == 1:
        return f"1 {noun}"
    return f"{count} {noun}{'es' if noun.endswith(('s', 'ch', 'sh', 'x')) else 's'}"
