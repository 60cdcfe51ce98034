"""Exercise checks of the GPT lessons. Lesson 09: the loss of an untrained model (a
prediction), top-p sampling, and temperature against novelty (a change and its measure).
Lesson 10: freezing all but the top blocks, the share of parameters left trainable (a
prediction), and how deep to unfreeze (a change and its measure)."""

from __future__ import annotations

from typing import Callable

import math
import numbers

import torch

from gankit._i18n import tr
from gankit.checks.core import CheckFailed, run_student
from gankit.models import GPT, GPTConfig
from gankit.models.transformer import freeze_all_but_top
from gankit.train import evaluate_lm

__all__ = ["check_top_p", "check_freeze_top", "check_untrained_loss_prediction", "check_temperature_novelty",
           "check_trainable_share_prediction", "check_unfreeze_depth"]


def _prediction(value, name: str) -> float:
    """A student's prediction as a float; the stub's ``...`` is "not written yet"."""
    if value is ... or value is None:  # the student version's stub is `name = ...  # YOUR CODE HERE`
        raise CheckFailed(tr("{name} is not written yet: replace the `...` with your prediction (a number).", name=name))
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise CheckFailed(tr("{name} should be one number (a float), got {value!r}.", name=name, value=value))
    return float(value)


def check_top_p(fn: Callable[[torch.Tensor, float], torch.Tensor]) -> None:
    """Check ``fn(probs, p)``: nucleus (top-p) filtering of a probability vector (V,). It
    must keep the smallest set of most likely tokens whose probabilities add up to at least
    p, set the others to 0, and renormalise what it keeps so that it sums to 1."""
    probs = torch.tensor([0.05, 0.4, 0.1, 0.3, 0.15])
    cases = [(0.35, [1]), (0.5, [1, 3]), (0.8, [1, 3, 4]), (0.9, [1, 2, 3, 4]), (1.0, [0, 1, 2, 3, 4])]
    for p, keep in cases:
        out = run_student(fn, "top_p_filter", probs.clone(), p)
        if not isinstance(out, torch.Tensor) or out.shape != probs.shape:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise CheckFailed(tr("top_p_filter should return probabilities of the same shape {expected}, got {shape}.",
                                 expected=tuple(probs.shape), shape=shape))
        expected = torch.zeros_like(probs)
        expected[keep] = probs[keep] / probs[keep].sum()
        if torch.allclose(out, expected, atol=1e-5):
            continue
        kept = (out > 0).nonzero().flatten().tolist()
        shown = probs.tolist()
        if sorted(kept) == keep:
            raise CheckFailed(tr("With probs {probs} and p = {p} you kept the right tokens {keep}, but their "
                                 "probabilities must be divided by their sum ({total:.2f}) so that they add up to 1 "
                                 "again.", probs=shown, p=p, keep=keep, total=probs[keep].sum()))
        if len(kept) == len(keep) + 1:
            raise CheckFailed(tr("With probs {probs} and p = {p} you kept {kept}, one token too many: stop as soon "
                                 "as the kept probabilities reach p (expected {keep}).",
                                 probs=shown, p=p, kept=kept, keep=keep))
        if len(kept) == len(keep) - 1:
            raise CheckFailed(tr("With probs {probs} and p = {p} you kept {kept}, one token too few: the kept "
                                 "probabilities must add up to at least p — include the token that crosses p "
                                 "(expected {keep}).", probs=shown, p=p, kept=kept, keep=keep))
        if len(kept) == len(keep):
            raise CheckFailed(tr("With probs {probs} and p = {p} you kept {kept} instead of {keep}: keep the most "
                                 "likely tokens (sort in descending order), and put the result back in the tokens' "
                                 "original order.", probs=shown, p=p, kept=kept, keep=keep))
        raise CheckFailed(tr("With probs {probs} and p = {p} expected to keep the tokens {keep} (the most likely "
                             "ones, until their probabilities reach p), got {kept}.",
                             probs=shown, p=p, keep=keep, kept=kept))
    print(tr("✓ top-p filtering correct: it keeps the smallest set of most likely tokens reaching p, renormalised."))


def check_freeze_top(fn: Callable) -> None:
    """Check ``fn(model, n_blocks) -> int``: freeze every parameter of a GPT except its last
    ``n_blocks`` blocks, the final LayerNorm ``ln_f`` and the ``head``, and return the number
    of parameters left trainable (lesson 10's partial fine-tune)."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=3, n_head=2, n_embd=16))
    reference = GPT(model.config)
    for n_blocks in (1, 2, 0):  # a model may come in partly frozen: every flag must be set
        count = run_student(fn, "freeze_top", model, n_blocks)
        expected_count = freeze_all_but_top(reference, n_blocks)
        got = {name: p.requires_grad for name, p in model.named_parameters()}
        want = {name: p.requires_grad for name, p in reference.named_parameters()}
        wrong = [name for name in want if got[name] != want[name]]
        if wrong:
            if all(got.values()):
                raise CheckFailed(tr("With n_blocks={n_blocks} (of 3 blocks) every parameter is still trainable: first "
                                     "freeze them all (p.requires_grad_(False) for p in model.parameters()), then "
                                     "unfreeze the top.", n_blocks=n_blocks))
            if not any(got.values()):
                raise CheckFailed(tr("With n_blocks={n_blocks} (of 3 blocks) every parameter is frozen: unfreeze the "
                                     "last blocks, model.ln_f and model.head.", n_blocks=n_blocks))
            parts = ", ".join(sorted({name.split(".")[0] + ("." + name.split(".")[1] if name.startswith("blocks.") else "")
                                      for name in wrong}))
            if any(name.startswith(("head", "ln_f")) for name in wrong):
                message = tr("With n_blocks={n_blocks} (of 3 blocks) the trainable parts are wrong for: {parts}. The "
                             "final LayerNorm (model.ln_f) and the head (model.head) sit on top of the last block: "
                             "train them too.", n_blocks=n_blocks, parts=parts)
            elif any(name.startswith("blocks.") for name in wrong):
                message = tr("With n_blocks={n_blocks} (of 3 blocks) the trainable parts are wrong for: {parts}. The "
                             "top blocks are the last ones, model.blocks[len(model.blocks) - n_blocks:] (careful: "
                             "model.blocks[-0:] is every block).", n_blocks=n_blocks, parts=parts)
            elif any(name.startswith(("tok_emb", "pos_emb")) for name in wrong):
                message = tr("With n_blocks={n_blocks} (of 3 blocks) the trainable parts are wrong for: {parts}. The "
                             "embeddings are at the bottom of the model: freeze them.", n_blocks=n_blocks, parts=parts)
            else:
                message = tr("With n_blocks={n_blocks} (of 3 blocks) the trainable parts are wrong for: {parts}.",
                             n_blocks=n_blocks, parts=parts)
            raise CheckFailed(message)
        if count != expected_count:
            raise CheckFailed(tr("With n_blocks={n_blocks} (of 3 blocks) the right parameters are trainable, but the "
                                 "function returned {count!r}; return how many numbers are trainable, "
                                 "sum(p.numel() for p in model.parameters() if p.requires_grad) = {expected_count}.",
                                 n_blocks=n_blocks, count=count, expected_count=expected_count))
    print(tr("✓ freeze_top is correct: only the last blocks, ln_f and the head stay trainable, and the count is right."))


def check_untrained_loss_prediction(predicted, measured: float, vocab_size: int, n_name_tokens: int,
                                    tolerance: float = 0.04) -> None:
    """Compare the student's prediction of a freshly initialised GPT's validation loss (nats
    per character) with the loss measured after it. An untrained model with small random
    weights gives every one of its ``vocab_size`` outputs about the same probability, so the
    loss is close to ln(vocab_size) — control tokens included, since the head scores them too
    (``n_name_tokens`` counts only what a name can contain)."""
    got = _prediction(predicted, "predicted_untrained_loss")
    uniform = math.log(vocab_size)
    mistakes = {}
    if n_name_tokens != vocab_size:
        mistakes[math.log(n_name_tokens)] = tr(
            "ln {n_name_tokens} = {ln_name_tokens:.3f} is uniform over the {n_name_tokens} tokens a name "
            "can contain, but the untrained model does not know that the control tokens never come next: its "
            "head scores all {vocab_size} tokens, and spreads its probability over all of them.",
            n_name_tokens=n_name_tokens, ln_name_tokens=math.log(n_name_tokens), vocab_size=vocab_size)
    mistakes.update({
        math.log2(vocab_size): tr("That is the loss in bits (log base 2); the lesson measures nats (natural log): "
                                  "divide by ln 2."),
        1 / vocab_size: tr("That is the probability the model gives each token; the loss is minus its logarithm."),
        float(vocab_size): tr("That is the number of tokens; the loss is the logarithm of it (for a uniform guess)."),
        0.0: tr("A loss of 0 means every next character is predicted with certainty; an untrained model knows nothing."),
    })
    for value, hint in mistakes.items():
        if math.isclose(got, value, abs_tol=0.01):
            raise CheckFailed(tr("You predicted {got:.3f} nats per character; the untrained model measured "
                                 "{measured:.3f}. {hint}", got=got, measured=measured, hint=hint))
    if abs(got - measured) > tolerance:
        if got < measured:
            message = tr(
                "You predicted {got:.3f} nats per character; the untrained model measured {measured:.3f}, so your "
                "guess is {gap:.2f} too low. With small random weights every logit is near 0: "
                "what probability does that give each of the model's {vocab_size} outputs, and what is −log of it?",
                got=got, measured=measured, gap=abs(got - measured), vocab_size=vocab_size)
        else:
            message = tr(
                "You predicted {got:.3f} nats per character; the untrained model measured {measured:.3f}, so your "
                "guess is {gap:.2f} too high. With small random weights every logit is near 0: "
                "what probability does that give each of the model's {vocab_size} outputs, and what is −log of it?",
                got=got, measured=measured, gap=abs(got - measured), vocab_size=vocab_size)
        raise CheckFailed(message)
    print(tr("✓ Predicted {got:.3f}, measured {measured:.3f} nats per character: an untrained model guesses "
             "uniformly over its {vocab_size} outputs, ln {vocab_size} = {uniform:.3f} (within ±{tolerance} is close "
             "enough).", got=got, measured=measured, vocab_size=vocab_size, uniform=uniform, tolerance=tolerance))


def check_temperature_novelty(fn: Callable[[float], float], share_at_1: float, cold: float = 0.5,
                              hot: float = 1.5) -> None:
    """Check ``fn(temperature) -> float``: the share of names sampled at ``temperature`` that
    are not in the training list, measured at a ``cold`` and a ``hot`` temperature around the
    lesson's own measurement at temperature 1 (``share_at_1``). A lower temperature sharpens
    the distribution towards the likeliest names, which are mostly training names; a higher
    one flattens it, so more names are new. The check fails if the measurements do not show it."""
    if not cold < 1 < hot:
        raise CheckFailed(tr("Measure one temperature below 1 and one above (got {cold} and {hot}).", cold=cold, hot=hot))
    shares = {}
    for t in (cold, hot):
        out = run_student(fn, "novelty_at", t)
        if isinstance(out, torch.Tensor) and out.numel() == 1:
            out = out.item()
        if isinstance(out, bool) or not isinstance(out, numbers.Real):
            raise CheckFailed(tr("novelty_at({t}) should return a share (a float from 0 to 1), got {out!r}.", t=t, out=out))
        if out > 1:
            raise CheckFailed(tr("novelty_at({t}) returned {out}: that looks like a count. Divide by the number "
                                 "of names sampled, to get a share from 0 to 1.", t=t, out=out))
        if out < 0:
            raise CheckFailed(tr("novelty_at({t}) returned {out}: a share is from 0 to 1.", t=t, out=out))
        shares[t] = float(out)
    cold_share, hot_share = shares[cold], shares[hot]
    if cold_share == hot_share:
        raise CheckFailed(tr(
            "new names: {cold_share:.0%} at temperature {cold}, {share_at_1:.0%} at 1 (section 6), {hot_share:.0%} at "
            "{hot}. The same share at both temperatures: does your function pass temperature=temperature to "
            "text.sample_texts?", cold_share=cold_share, cold=cold, share_at_1=share_at_1, hot_share=hot_share, hot=hot))
    if cold_share > hot_share:
        raise CheckFailed(tr(
            "new names: {cold_share:.0%} at temperature {cold}, {share_at_1:.0%} at 1 (section 6), {hot_share:.0%} at "
            "{hot}. Your share falls as the temperature rises: did you count the names that ARE in the training list "
            "(copies) instead of the new ones? Section 6 counts the new ones.",
            cold_share=cold_share, cold=cold, share_at_1=share_at_1, hot_share=hot_share, hot=hot))
    if not cold_share < share_at_1 < hot_share:
        raise CheckFailed(tr(
            "new names: {cold_share:.0%} at temperature {cold}, {share_at_1:.0%} at 1 (section 6), {hot_share:.0%} at "
            "{hot}. Expected fewer new names when cold and more when hot, with section 6's share at temperature 1 in "
            "between. Sample enough names (a few hundred) for the shares to be steady, from `model`, and count those "
            "not in `train_set`.", cold_share=cold_share, cold=cold, share_at_1=share_at_1, hot_share=hot_share, hot=hot))
    print(tr("✓ new names: {cold_share:.0%} at temperature {cold}, {share_at_1:.0%} at 1 (section 6), {hot_share:.0%} "
             "at {hot}. A low temperature concentrates the samples on the likeliest names, which the model learned "
             "from the training list; a high one spreads them out, towards names never seen (and spellings that are "
             "not names: look at them).",
             cold_share=cold_share, cold=cold, share_at_1=share_at_1, hot_share=hot_share, hot=hot))


def check_trainable_share_prediction(predicted, n_trainable: int, n_total: int, n_blocks: int, n_layer: int,
                                     tolerance: float = 0.03) -> None:
    """Compare the student's prediction of the share of a GPT's parameters left trainable by
    ``freeze_top(model, n_blocks)`` with the share measured after it (``n_trainable`` of
    ``n_total``)."""
    got = _prediction(predicted, "predicted_trainable_share")
    share = n_trainable / n_total
    if abs(got - share) <= tolerance:
        print(tr("✓ You predicted {got:.3f}; freeze_top(partial, {n_blocks}) left {n_trainable:,} of {n_total:,} "
                 "parameters trainable, {share:.3f}. The {n_layer} blocks are the same size and hold nearly all the "
                 "parameters; the embeddings, ln_f and the head are small, so the share is close to "
                 "{n_blocks}/{n_layer}.", got=got, n_blocks=n_blocks, n_trainable=n_trainable, n_total=n_total,
                 share=share, n_layer=n_layer))
        return
    if 1 < got <= 100 and abs(got / 100 - share) <= tolerance:
        raise CheckFailed(tr("You predicted {got:.3f}; freeze_top(partial, {n_blocks}) left {n_trainable:,} of "
                             "{n_total:,} parameters trainable, {share:.3f}. Your number looks like a percentage: "
                             "write the share as a fraction from 0 to 1.", got=got, n_blocks=n_blocks,
                             n_trainable=n_trainable, n_total=n_total, share=share))
    if abs((1 - got) - share) <= tolerance:
        raise CheckFailed(tr("You predicted {got:.3f}; freeze_top(partial, {n_blocks}) left {n_trainable:,} of "
                             "{n_total:,} parameters trainable, {share:.3f}. You predicted the share that is frozen: "
                             "the question is what stays trainable.", got=got, n_blocks=n_blocks,
                             n_trainable=n_trainable, n_total=n_total, share=share))
    if got > 1 or got < 0:
        raise CheckFailed(tr("You predicted {got:.3f}; freeze_top(partial, {n_blocks}) left {n_trainable:,} of "
                             "{n_total:,} parameters trainable, {share:.3f}. A share is a fraction from 0 to 1.",
                             got=got, n_blocks=n_blocks, n_trainable=n_trainable, n_total=n_total, share=share))
    if got < share:
        raise CheckFailed(tr("You predicted {got:.3f}; freeze_top(partial, {n_blocks}) left {n_trainable:,} of "
                             "{n_total:,} parameters trainable, {share:.3f}. Too low: the trainable part is the last "
                             "{n_blocks} block(s) as well as ln_f and the head, and each block is one of {n_layer} "
                             "equal blocks that hold nearly all the parameters.", got=got, n_blocks=n_blocks,
                             n_trainable=n_trainable, n_total=n_total, share=share, n_layer=n_layer))
    raise CheckFailed(tr("You predicted {got:.3f}; freeze_top(partial, {n_blocks}) left {n_trainable:,} of "
                         "{n_total:,} parameters trainable, {share:.3f}. Too high: the embeddings and the lower "
                         "{n_lower} block(s) are frozen, and the blocks hold nearly all the parameters.",
                         got=got, n_blocks=n_blocks, n_trainable=n_trainable, n_total=n_total, share=share,
                         n_lower=n_layer - n_blocks))


def check_unfreeze_depth(fn: Callable[[int], float], pretrained: torch.nn.Module, val_data,
                         depths: tuple[int, int] = (0, 2), margin: float = 0.02) -> dict[int, float]:
    """Check ``fn(n_blocks) -> float``: a short fine-tune of a *copy* of ``pretrained`` with all
    but its last ``n_blocks`` blocks frozen, returning the validation loss (``val_data``).
    Run at two depths, everything else equal: the deeper fine-tune must reach a lower
    validation loss by ``margin`` nats per character (it can adapt more of the model), and the
    pretrained model must be left as it was. Returns ``{n_blocks: loss}``."""
    before = evaluate_lm(pretrained, val_data)
    losses = {}
    for n in depths:
        out = run_student(fn, "short_finetune", n)
        if isinstance(out, torch.Tensor) and out.numel() == 1:
            out = out.item()
        if isinstance(out, bool) or not isinstance(out, numbers.Real) or not math.isfinite(float(out)):
            raise CheckFailed(tr("short_finetune({n}) should return the validation loss (a float), got {out!r}.",
                                 n=n, out=out))
        losses[n] = float(out)
        if evaluate_lm(pretrained, val_data) != before:
            raise CheckFailed(tr("short_finetune({n}) changed `pretrained` itself: train a copy, "
                                 "copy.deepcopy(pretrained), so every run starts from the same pretrained weights.", n=n))
    shallow, deep = depths
    shallow_loss, deep_loss = losses[shallow], losses[deep]
    if any(loss >= before for loss in losses.values()):
        raise CheckFailed(tr(
            "validation loss after the short fine-tune: {shallow_loss:.3f} with {shallow} block(s) unfrozen, "
            "{deep_loss:.3f} with {deep} (the pretrained model: {before:.3f}). A fine-tune should lower the loss on "
            "first names: does your function train the copy with train_lm on first_data['train'], and evaluate that "
            "copy on first_data['val']?",
            shallow_loss=shallow_loss, shallow=shallow, deep_loss=deep_loss, deep=deep, before=before))
    if math.isclose(shallow_loss, deep_loss, abs_tol=1e-6):
        raise CheckFailed(tr(
            "validation loss after the short fine-tune: {shallow_loss:.3f} with {shallow} block(s) unfrozen, "
            "{deep_loss:.3f} with {deep} (the pretrained model: {before:.3f}). The same loss at both depths: n_blocks "
            "had no effect. Call freeze_top(copy, n_blocks) before training the copy.",
            shallow_loss=shallow_loss, shallow=shallow, deep_loss=deep_loss, deep=deep, before=before))
    if not deep_loss < shallow_loss - margin:
        raise CheckFailed(tr(
            "validation loss after the short fine-tune: {shallow_loss:.3f} with {shallow} block(s) unfrozen, "
            "{deep_loss:.3f} with {deep} (the pretrained model: {before:.3f}). Unfreezing more blocks did not lower the "
            "validation loss by at least {margin} nats per character. Use the same steps, learning rate and seed at "
            "both depths.",
            shallow_loss=shallow_loss, shallow=shallow, deep_loss=deep_loss, deep=deep, before=before, margin=margin))
    print(tr("✓ validation loss after the short fine-tune: {shallow_loss:.3f} with {shallow} block(s) unfrozen, "
             "{deep_loss:.3f} with {deep} (the pretrained model: {before:.3f}). With everything else equal, {deep} "
             "trainable block(s) fit first names better than {shallow}: the deeper the fine-tune, the more of the "
             "model can adapt — at the cost of more trainable parameters, more compute per step, and more of the "
             "pretraining changed.",
             shallow_loss=shallow_loss, shallow=shallow, deep_loss=deep_loss, deep=deep, before=before))
    return losses
