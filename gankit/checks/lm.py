"""Exercise checks of lesson 08 (attention and the Transformer block)."""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from gankit._i18n import tr
from gankit.checks.core import CheckFailed, diagnose, not_written, run_student
from gankit.models.transformer import Block, GPTConfig

__all__ = ["check_causal_attention", "check_attention_prediction", "check_transformer_block", "check_block_parameter_prediction",
           "check_without_positions"]


def check_causal_attention(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Check ``fn(q, k, v)`` = softmax(q kᵀ / √d + causal mask) v, for q, k (..., T, d) and v
    (..., T, d_v); ``fn`` may return the output alone or (output, weights)."""
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 3, 6, 16, generator=gen), torch.randn(2, 3, 6, 16, generator=gen)
    v = torch.randn(2, 3, 6, 5, generator=gen)  # d_v ≠ d, so a mix-up of v and k shows
    out = run_student(fn, "causal_attention", q, k, v)
    if isinstance(out, tuple):
        out = out[0]
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(tr("causal_attention should return a tensor (the attended values), got {kind}.",
                             kind=type(out).__name__))
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    if out.shape != expected.shape:
        raise CheckFailed(tr(
            "causal_attention returned shape {shape}; expected {expected} = (..., T, d_v): "
            "the weights (..., T, T) multiply v, i.e. weights @ v.",
            shape=tuple(out.shape), expected=tuple(expected.shape)))
    if torch.allclose(out, expected, atol=1e-5):
        print(tr("✓ Causal attention correct: it matches torch.nn.functional.scaled_dot_product_attention(is_causal=True)."))
        return

    T, d = q.shape[-2], q.shape[-1]
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    scores = q @ k.transpose(-2, -1)

    def attend(s: torch.Tensor, dim: int = -1) -> torch.Tensor:
        return s.softmax(dim) @ v

    candidates = {
        tr("The future is not masked: position i must not see positions j > i. Set those scores to -inf "
           "before the softmax (scores.masked_fill(mask, float('-inf')))."):
            attend(scores / math.sqrt(d)),
        tr("The mask points the wrong way: each position sees the future and not the past. Keep j ≤ i "
           "(the lower triangle, torch.tril), hide j > i."):
            attend((scores / math.sqrt(d)).masked_fill(future.T, float("-inf"))),
        tr("The masked scores were set to 0, not -inf: exp(0) = 1, so the future still gets weight. Use float('-inf')."):
            attend((scores / math.sqrt(d)).masked_fill(future, 0.0)),
        tr("The scores are not scaled: divide q kᵀ by √d (d = q.shape[-1]) before the softmax."):
            attend(scores.masked_fill(future, float("-inf"))),
        tr("The scores are divided by d, not √d."):
            attend((scores / d).masked_fill(future, float("-inf"))),
        tr("The softmax runs over the wrong dimension: each query's weights (a row, dim=-1) must sum to 1."):
            attend((scores / math.sqrt(d)).masked_fill(future, float("-inf")), dim=-2).nan_to_num(),
        tr("The mask was applied after the softmax: mask the scores first, so the remaining weights still sum to 1."):
            ((scores / math.sqrt(d)).softmax(-1).masked_fill(future, 0.0)) @ v,
    }
    for hint, value in candidates.items():
        if value.shape == out.shape and torch.allclose(out, value, atol=1e-5):
            raise CheckFailed(tr("Causal attention: {hint}", hint=hint))
    raise CheckFailed(tr(
        "Causal attention: the output differs from softmax(q kᵀ / √d, future masked) v. Go step by step: "
        "scores = q @ k.transpose(-2, -1) / √d, shape (..., T, T); scores of j > i set to -inf; "
        "softmax over the last dimension; then @ v."
    ))


# --------------------------------------------------------------------------- predict: the weights of a causal attention


def check_attention_prediction(predicted, measured: torch.Tensor) -> None:
    """Compare the student's ``predicted`` causal attention weights (T × T, nested lists or a
    tensor) for keys that are all equal with the ``measured`` weights; a wrong prediction is
    matched against the usual misreadings of the mask and the softmax."""
    if predicted is Ellipsis:
        raise not_written("predicted_weights")
    try:
        guess = torch.as_tensor(predicted, dtype=torch.float32)
    except (TypeError, ValueError) as exc:
        raise CheckFailed(tr("predicted_weights should be a T × T table of numbers (a list of rows), not {exc}.",
                             exc=exc)) from None
    measured = measured.detach().float().cpu()
    T = measured.shape[-1]
    if guess.shape != measured.shape:
        raise CheckFailed(tr(
            "predicted_weights has shape {shape}; the weights are {T} × {T}: row i is where "
            "query i looks, column j the key it looks at.", shape=tuple(guess.shape), T=T))
    print(tr("measured weights:\n{table}",
             table="\n".join("  " + "  ".join(f"{w:.3f}" for w in row) for row in measured.tolist())))
    if torch.allclose(guess, measured, atol=0.01):
        print(tr(
            "✓ Prediction right. All keys are equal, so every visible key gets the same score and the softmax "
            "spreads row i evenly over its i + 1 visible positions (1/(i + 1) each); the query does not matter. "
            "The output at i is then the running mean of v₁ … vᵢ."
        ))
        return
    visible = torch.ones(T, T).tril()
    counts = torch.arange(1, T + 1, dtype=torch.float32).unsqueeze(1)
    hints = {
        tr("You predicted 1/T everywhere: that is attention without the mask. The mask hides j > i, so those "
           "weights are exactly 0 and row i shares its weight among i + 1 positions only."):
            torch.full((T, T), 1.0 / T),
        tr("Your mask points to the future: a query sees itself and the keys BEFORE it (the lower triangle)."):
            visible.T / counts.flip(0),
        tr("You predicted the identity: equal keys give equal scores, and equal scores give equal weights, not "
           "all weight on the query's own position."):
            torch.eye(T),
        tr("Your rows do not sum to 1: the softmax normalises each row, so the i + 1 visible weights are 1/(i + 1)."):
            visible,
        tr("You predicted 1/T on the visible keys and 0 on the others: that is masking AFTER the softmax. The "
           "mask removes the future before it, so the normaliser counts only the i + 1 visible keys."):
            visible / T,
        tr("You predicted the masked positions as 1/T and spread only the rest: the future gets exactly 0."):
            torch.where(visible.bool(), 1.0 / counts, torch.full((T, T), 1.0 / T)),
    }
    for hint, value in hints.items():
        if torch.allclose(guess, value, atol=0.01):
            raise CheckFailed(tr("Prediction: {hint}", hint=hint))
    raise CheckFailed(tr(
        "Prediction differs from the measurement (printed above). Reason it out row by row: which keys may "
        "query i see? They all score the same (the keys are equal), so what does the softmax do with equal scores?"
    ))


# --------------------------------------------------------------------------- write: the Transformer block

# gankit's Block → the flat names of the lesson's BlockLayers
_BLOCK_NAMES = {"ln_1": "ln_1", "attn.qkv": "qkv", "attn.proj": "attn_proj", "ln_2": "ln_2", "mlp.fc": "fc",
                "mlp.proj": "mlp_proj"}


def _block_variant(p: dict[str, torch.Tensor], x: torch.Tensor, n_head: int, *, norm: str = "pre",
                   residual_attn: bool = True, residual_mlp: bool = True, residual_from_normed: bool = False,
                   causal: bool = True, heads: str = "split", act: str = "gelu", swap_ln: bool = False,
                   attn_proj: bool = True) -> torch.Tensor:
    """One Transformer block written out with the weights ``p`` (flat names), right by default,
    or with one of the mistakes the flags name."""
    B, T, C = x.shape
    ln_a, ln_m = ("ln_2", "ln_1") if swap_ln else ("ln_1", "ln_2")

    def ln(name: str, t: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(t, (C,), p[f"{name}.weight"], p[f"{name}.bias"])

    def attn(t: torch.Tensor) -> torch.Tensor:
        q, k, v = F.linear(t, p["qkv.weight"], p["qkv.bias"]).split(C, dim=2)
        if heads == "split":
            q, k, v = (z.view(B, T, n_head, C // n_head).transpose(1, 2) for z in (q, k, v))
        elif heads == "view_only":  # (B, T, C) viewed as (B, h, T, d) without the transpose
            q, k, v = (z.reshape(B, n_head, T, C // n_head) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        if heads == "split":
            y = y.transpose(1, 2).reshape(B, T, C)
        elif heads == "view_only":
            y = y.reshape(B, T, C)
        return F.linear(y, p["attn_proj.weight"], p["attn_proj.bias"]) if attn_proj else y

    def mlp(t: torch.Tensor) -> torch.Tensor:
        h = F.linear(t, p["fc.weight"], p["fc.bias"])
        h = F.gelu(h) if act == "gelu" else F.relu(h) if act == "relu" else h
        return F.linear(h, p["mlp_proj.weight"], p["mlp_proj.bias"])

    def sub_layer(t: torch.Tensor, f, ln_name: str, residual: bool) -> torch.Tensor:
        if norm == "pre":
            if residual_from_normed:
                t = ln(ln_name, t)
                return t + f(t) if residual else f(t)
            return t + f(ln(ln_name, t)) if residual else f(ln(ln_name, t))
        if norm == "post":
            return ln(ln_name, t + f(t) if residual else f(t))
        return t + f(t) if residual else f(t)  # no LayerNorm

    x = sub_layer(x, attn, ln_a, residual_attn)
    return sub_layer(x, mlp, ln_m, residual_mlp)


def _random_block(n_embd: int, n_head: int, seed: int = 0):
    """gankit's Block with every weight random (LayerNorm's too, so a swap of the two shows)."""
    gen = torch.Generator().manual_seed(seed)
    block = Block(GPTConfig(n_embd=n_embd, n_head=n_head, dropout=0.0)).eval()
    with torch.no_grad():
        for name, param in block.named_parameters():
            if name.startswith("ln"):
                param.copy_((1.0 if name.endswith("weight") else 0.0) + 0.3 * torch.randn(param.shape, generator=gen))
            else:
                param.copy_(torch.randn(param.shape, generator=gen) / math.sqrt(param.shape[-1]))
    flat = {}
    for key, value in block.state_dict().items():
        module, what = key.rsplit(".", 1)
        flat[f"{_BLOCK_NAMES[module]}.{what}"] = value.clone()
    return block, flat


def check_transformer_block(block_cls: type, n_embd: int = 32, n_head: int = 4) -> None:
    """Build ``block_cls(n_embd, n_head)`` (the lesson's ``MyBlock``), give it the weights of a
    random gankit ``Block`` and compare their outputs on one batch; a wrong block is matched
    against the usual mistakes (a missing residual, LayerNorm after instead of before, no
    causal mask, the heads not split, ...)."""
    if block_cls is Ellipsis:
        raise not_written("MyBlock")
    reference, flat = _random_block(n_embd, n_head)
    student = run_student(block_cls, "MyBlock", n_embd, n_head)
    if not isinstance(student, torch.nn.Module):
        raise CheckFailed(tr("MyBlock({n_embd}, {n_head}) should build an nn.Module, got {kind}.",
                             n_embd=n_embd, n_head=n_head, kind=type(student).__name__))
    try:
        student.load_state_dict(flat, strict=True)
    except RuntimeError as exc:
        raise CheckFailed(tr(
            "gankit's Block's weights do not load into MyBlock: keep the layers BlockLayers declares "
            "({layers}) and add none. PyTorch said: {exc}",
            layers=", ".join(sorted({k.rsplit(".", 1)[0] for k in flat})), exc=exc)) from None
    student.eval()
    x = torch.randn(3, 7, n_embd, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = run_student(student, "MyBlock.forward", x.clone())
        expected, _ = reference(x.clone())
    if isinstance(out, tuple):
        out = out[0]
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(tr("MyBlock.forward should return a tensor (B, T, C), got {kind}.", kind=type(out).__name__))
    if out.shape != expected.shape:
        raise CheckFailed(tr(
            "MyBlock.forward returned shape {shape}; a block keeps the shape of its input "
            "{input_shape}: the residual stream has the same width all the way up.",
            shape=tuple(out.shape), input_shape=tuple(x.shape)))
    if torch.allclose(out, expected, atol=1e-4):
        print(tr("✓ Your block computes what gankit's Block computes with the same weights: "
                 "x + attention(LN(x)), then x + MLP(LN(x)), causal, multi-head."))
        return
    variants = {
        tr("The attention's residual connection is missing: add the sub-layer's output to x (x = x + ...), "
           "do not replace x with it."): dict(residual_attn=False),
        tr("The MLP's residual connection is missing: x = x + MLP(LN(x)), not x = MLP(LN(x))."):
            dict(residual_mlp=False),
        tr("Both residual connections are missing: each sub-layer ADDS to the stream, x = x + f(LN(x))."):
            dict(residual_attn=False, residual_mlp=False),
        tr("LayerNorm comes after the residual sum (post-LN, the 2017 layout): gankit's GPT normalises the input "
           "of each sub-layer instead, x + f(LN(x)), and leaves the stream itself unnormalised."): dict(norm="post"),
        tr("There is no LayerNorm: apply ln_1 before the attention and ln_2 before the MLP."): dict(norm="none"),
        tr("The residual starts from the normalised x (x = LN(x); x = x + f(x)): keep the stream as it is and "
           "normalise only the sub-layer's input, x = x + f(LN(x))."): dict(residual_from_normed=True),
        tr("The attention is not causal: the block must hide the future (causal=True, or mask j > i with -inf)."):
            dict(causal=False),
        tr("The heads are not split: the attention ran once over all C dimensions. Reshape q, k, v to "
           "(B, n_head, T, C // n_head) with .view(B, T, n_head, -1).transpose(1, 2)."): dict(heads="none"),
        tr("The heads were split with a bare .view(B, n_head, T, d): that cuts the sequence, not each token's "
           "vector. View as (B, T, n_head, d), then .transpose(1, 2); undo it the same way."): dict(heads="view_only"),
        tr("The MLP uses ReLU; gankit's (GPT-2's) uses GELU: F.gelu."): dict(act="relu"),
        tr("The MLP has no non-linearity between fc and mlp_proj: two linear layers in a row are one linear layer. "
           "Put F.gelu between them."): dict(act="none"),
        tr("ln_1 and ln_2 are swapped: ln_1 goes before the attention, ln_2 before the MLP."): dict(swap_ln=True),
        tr("The heads' outputs are not mixed by attn_proj: apply it after putting the heads side by side."):
            dict(attn_proj=False),
    }
    for hint, flags in variants.items():
        value = _block_variant(flat, x, n_head, **flags)
        if torch.allclose(out, value, atol=1e-4):
            raise CheckFailed(tr("Transformer block: {hint}", hint=hint))
    raise CheckFailed(tr(
        "Transformer block: the output differs from gankit's Block with the same weights. In order: "
        "h = LN₁(x); q, k, v from qkv(h), split into heads; causal attention; heads side by side; "
        "x = x + attn_proj(...); then x = x + mlp_proj(gelu(fc(LN₂(x))))."
    ))


# --------------------------------------------------------------------------- change and measure: no positions


def _reversal_accuracy(model: torch.nn.Module, inputs: torch.Tensor, seq_len: int) -> tuple[float, float]:
    """Greedy whole-sequence and digit accuracy of ``model`` reversing the first ``seq_len`` digits of each row."""
    prompts = inputs[:, :seq_len + 1]
    answers = model.generate(prompts, seq_len, temperature=0)[:, seq_len + 1:].cpu()
    truth = inputs[:, :seq_len].flip(1).cpu()
    return (answers == truth).all(dim=1).float().mean().item(), (answers == truth).float().mean().item()


def check_without_positions(fn: Callable, model: torch.nn.Module, inputs: torch.Tensor, seq_len: int,
                            accuracy_with: float) -> float:
    """Check ``fn(model)`` returns a copy of the trained GPT ``model`` whose position table
    carries no information (all rows equal) and is otherwise unchanged, then measure its
    reversal accuracy on ``inputs`` next to ``accuracy_with`` (the trained model's). Fails
    when the copy still reverses more than a small fraction of the sequences. Returns the
    whole-sequence accuracy without positions."""
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    changed = run_student(fn, "without_positions", model)
    after_original = model.state_dict()
    if any(not torch.equal(before[k], after_original[k]) for k in before):
        with torch.no_grad():
            model.load_state_dict(before)  # the lesson still needs the trained model
        raise CheckFailed(tr(
            "without_positions changed the trained model itself (restored now): work on a copy, "
            "copy.deepcopy(model), so the model trained above stays as it was."
        ))
    if changed is model:
        raise CheckFailed(tr("without_positions should return the changed copy (a GPT), got the model itself."))
    if changed is None or not isinstance(changed, torch.nn.Module):
        raise CheckFailed(tr("without_positions should return the changed copy (a GPT), got {kind}.",
                             kind=type(changed).__name__))
    state = changed.state_dict()
    if set(state) != set(before):
        raise CheckFailed(tr("without_positions should return a copy of the same GPT (same layers), with only "
                             "the position table changed."))
    table = state["pos_emb.weight"]
    if not torch.allclose(table, table[:1].expand_as(table), atol=1e-6):
        raise CheckFailed(tr(
            "The copy's positions still differ from each other: pos_emb.weight must have every row equal "
            "(all zeros is simplest) so that no token can tell where it is. Shuffling the rows or scaling them "
            "keeps the information."
        ))
    others = [k for k in before if k != "pos_emb.weight" and not torch.equal(before[k], state[k].to(before[k].device))]
    if others:
        raise CheckFailed(tr("Change only pos_emb.weight; the copy also changed {others}.", others=others[:3]))
    accuracy, digits = _reversal_accuracy(changed, inputs, seq_len)
    print(tr("whole-sequence accuracy with positions {accuracy_with:.2%}, without {accuracy:.2%} "
             "(digit accuracy without: {digits:.2%}; guessing a digit: 10%)",
             accuracy_with=accuracy_with, accuracy=accuracy, digits=digits))
    if accuracy > 0.5 * accuracy_with:
        raise CheckFailed(tr(
            "✗ Without positions the model still reverses {accuracy:.2%} of the sequences (with: "
            "{accuracy_with:.2%}): the lesson says it relies on pos_emb to find the digit to copy. Did the "
            "change reach the model that was measured?", accuracy=accuracy, accuracy_with=accuracy_with))
    print(tr("✓ Without its position table the trained model can no longer reverse: it found each digit to copy "
             "by WHERE it was, and that information is gone."))
    return accuracy


# --------------------------------------------------------------------------- predict: the parameters of a block


def check_block_parameter_prediction(predicted, measured: int, n_embd: int) -> None:
    """Compare the student's ``predicted`` number of parameters of one gankit Block of width
    ``n_embd`` with the ``measured`` count; a wrong prediction is matched against the usual
    slips (biases or LayerNorms forgotten, the MLP's 4× width, q, k, v as one C × C matrix)."""
    if predicted is Ellipsis:
        raise not_written("predicted_block_parameters")
    if isinstance(predicted, bool) or not isinstance(predicted, (int, float)) or predicted != int(predicted):
        raise CheckFailed(tr("predicted_block_parameters should be a whole number, got {predicted!r}.",
                             predicted=predicted))
    C, predicted = n_embd, int(predicted)
    print(tr("predicted {predicted:,}, measured {measured:,} parameters in one block of width C = {C}",
             predicted=predicted, measured=measured, C=C))
    if predicted == measured:
        print(tr("✓ Prediction right: qkv 3C² + 3C, attn_proj C² + C, fc 4C² + 4C, mlp_proj 4C² + C and two "
                 "LayerNorms 2C each: 12C² + 13C. The C² terms dominate: doubling the width about quadruples a block."))
        return
    hint = diagnose(predicted, {
        tr("You left out the biases (3C + C + 4C + C of them)."): 12 * C * C + 4 * C,
        tr("You left out the two LayerNorms: each has a scale and a shift of C numbers."): 12 * C * C + 9 * C,
        tr("You left out the biases and the LayerNorms: add 13C."): 12 * C * C,
        tr("You counted each LayerNorm as C numbers: it has a scale AND a shift."): 12 * C * C + 11 * C,
        tr("The MLP's hidden layer is 4C wide (C → 4C → C), not C."): 6 * C * C + 10 * C,
        tr("q, k and v each have their own C × C matrix: qkv maps C to 3C."): 10 * C * C + 11 * C,
        tr("You left out attn_proj, the C × C layer that mixes the heads."): 11 * C * C + 12 * C,
    }, fallback=tr("Count layer by layer: a Linear from a to b has a·b weights and b biases; a LayerNorm of "
                   "width C has 2C. The block has qkv (C → 3C), attn_proj (C → C), fc (C → 4C), mlp_proj (4C → C) "
                   "and two LayerNorms."))
    raise CheckFailed(tr("Prediction: {predicted:,} ≠ {measured:,}. {hint}", predicted=predicted, measured=measured,
                         hint=hint))
