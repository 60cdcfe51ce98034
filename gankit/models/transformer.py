"""A small GPT: a decoder-only Transformer that models p(x₁…xₙ) = Π p(xᵢ | x₍<ᵢ₎) (lessons 08–10).

Vaswani et al., "Attention Is All You Need", NeurIPS 2017 (the Transformer);
Radford et al., "Improving Language Understanding by Generative Pre-Training", 2018, and
"Language Models are Unsupervised Multitask Learners", 2019 (the decoder-only GPT with
pre-norm blocks and learned positions). The code follows Karpathy's minGPT / nanoGPT.

Read top to bottom: attention written out (:func:`scaled_dot_product_attention`), a
multi-head causal self-attention layer, the MLP, a block, the model, sampling
(:func:`filter_logits` and :meth:`GPT.generate`), and freezing all but the top of a
pretrained model for a cheaper fine-tune (:func:`freeze_all_but_top`, lesson 10).

Simplifications compared with the papers: positions are learned embeddings (GPT's choice;
the 2017 paper used fixed sinusoids), LayerNorm comes before each sub-layer ("pre-norm",
GPT-2's choice, which trains more easily than the 2017 post-norm), and there is no
encoder: a decoder-only model reads its input and writes its output in one sequence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gankit.models._parts import exporting
from gankit.text import IGNORE_INDEX
from gankit.utils import check_positive_int, eval_mode

__all__ = [
    "GPTConfig", "GPT", "CausalSelfAttention", "Block", "scaled_dot_product_attention", "causal_mask", "filter_logits",
    "freeze_all_but_top",
]


# --------------------------------------------------------------------------- attention, written out


def causal_mask(T: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(T, T) booleans, True where query position i may look at key position j, i.e. j ≤ i."""
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False, dropout_p: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention(Q, K, V) = softmax(Q Kᵀ / √d) V  (Vaswani et al., 2017, eq. 1).

    ``q``, ``k``: (..., T, d); ``v``: (..., T, d_v). With ``causal=True`` every position
    attends only to itself and earlier positions. Returns the output (..., T, d_v) and the
    attention weights (..., T, T), each row a probability distribution over the keys.
    ``dropout_p`` > 0 drops weights at random (training only; pass 0 in eval mode).
    Computes the same as ``torch.nn.functional.scaled_dot_product_attention``.
    """
    d = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (..., T, T): how well query i matches key j
    if causal:
        T_q, T_k = scores.shape[-2:]
        # -inf before the softmax gives weight exactly 0 to the future
        scores = scores.masked_fill(~causal_mask(max(T_q, T_k), q.device)[:T_q, :T_k], float("-inf"))
    weights = scores.softmax(dim=-1)  # (..., T, T), rows sum to 1
    dropped = F.dropout(weights, dropout_p) if dropout_p > 0 else weights
    return dropped @ v, weights  # (..., T, d_v)


# --------------------------------------------------------------------------- the model


@dataclass
class GPTConfig:
    vocab_size: int = 27  # number of distinct tokens (26 letters + the end token for names)
    block_size: int = 32  # longest sequence the model reads (its context)
    n_layer: int = 4  # Transformer blocks
    n_head: int = 4  # attention heads per block
    n_embd: int = 64  # width of every token's vector; each head gets n_embd // n_head
    dropout: float = 0.0  # on attention weights and residual branches (0: none)
    bias: bool = True  # biases in the Linear layers and LayerNorms


def _check_config(config: GPTConfig) -> None:
    for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
        check_positive_int(getattr(config, name), f"GPTConfig.{name}")
    if config.n_embd % config.n_head:
        raise ValueError(
            f"GPTConfig.n_embd ({config.n_embd}) must be divisible by n_head ({config.n_head}): "
            f"each head gets n_embd // n_head dimensions."
        )
    if not 0 <= config.dropout < 1:
        raise ValueError(f"GPTConfig.dropout must be in [0, 1), got {config.dropout}.")


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention.

    Every token makes a query, a key and a value (one Linear for all three). The vectors
    are split into ``n_head`` heads of size d = n_embd / n_head; each head attends on its
    own, so different heads can look for different things; their outputs are put side by
    side again and mixed by a last Linear.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout_p = config.dropout  # dropout on the attention weights
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, C) → output (B, T, C) and the attention weights (B, n_head, T, T)."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 × (B, T, C)
        # (B, T, C) → (B, n_head, T, d): each head attends separately
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y, weights = scaled_dot_product_attention(  # (B, n_head, T, d), (B, n_head, T, T)
            q, k, v, causal=True, dropout_p=self.attn_dropout_p if self.training else 0.0
        )
        y = y.transpose(1, 2).reshape(B, T, C)  # heads side by side again: (B, T, C)
        return self.resid_dropout(self.proj(y)), weights


class MLP(nn.Module):
    """The position-wise feed-forward network: each token on its own, C → 4C → C."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    """x + attention(LN(x)), then x + MLP(LN(x)): tokens talk to each other, then each thinks alone."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, weights = self.attn(self.ln_1(x))
        x = x + a  # the residual stream: each sub-layer adds to it
        x = x + self.mlp(self.ln_2(x))
        return x, weights


class GPT(nn.Module):
    """Token ids (B, T) → next-token logits (B, T, vocab_size).

    ``forward(idx, targets)`` returns ``(logits, loss)``; the loss is the mean cross-entropy
    −log p(target | everything before it) in nats, over targets that are not -1 (padding).
    """

    config_class = GPTConfig

    def __init__(self, config: GPTConfig | None = None):
        super().__init__()
        self.config = config = config or GPTConfig()
        _check_config(config)
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)  # what the token is
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd)  # where it is: attention alone cannot tell
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale the residual projections by 1/√(2·n_layer)
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def _check_idx(self, idx: torch.Tensor, what: str = "input") -> None:
        if not isinstance(idx, torch.Tensor) or idx.ndim != 2 or idx.dtype != torch.long:
            shape = tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx).__name__
            dtype = getattr(idx, "dtype", None)
            raise ValueError(f"GPT expects token ids as a long tensor (batch, time); got {shape} of {dtype}.")
        T = idx.shape[1]
        if T > self.config.block_size:
            raise ValueError(
                f"The {what} has {T} tokens but the model's context is block_size="
                f"{self.config.block_size}; shorten it or build the model with a larger block_size."
            )
        if T == 0:
            raise ValueError(f"The {what} is empty: give at least one token (for names, the end token starts a new one).")
        if exporting():  # the ids have no values while the exporter traces: skip the check below
            return
        if idx.numel() and (idx.min() < 0 or idx.max() >= self.config.vocab_size):
            bad = idx[(idx < 0) | (idx >= self.config.vocab_size)].unique().tolist()
            raise ValueError(
                f"Token ids {bad[:10]} are outside the vocabulary 0..{self.config.vocab_size - 1}. "
                f"Was the text encoded with another vocabulary than the model's?"
            )

    def _run(self, idx: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Hidden states after the last LayerNorm (B, T, C) and every block's attention weights."""
        self._check_idx(idx)
        T = idx.shape[1]
        pos = torch.arange(T, device=idx.device)  # (T,)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))  # (B, T, C) + (T, C)
        maps = []
        for block in self.blocks:
            x, weights = block(x)
            maps.append(weights)
        return self.ln_f(x), maps

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        x, _ = self._run(idx)
        logits = self.head(x)  # (B, T, vocab_size)
        if targets is None:
            return logits, None
        if targets.shape != idx.shape:
            raise ValueError(f"targets must have the shape of the input {tuple(idx.shape)}, got {tuple(targets.shape)}.")
        # cross-entropy = −log p(next token | tokens so far), averaged over the real targets
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)
        return logits, loss

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> list[torch.Tensor]:
        """The attention weights of every block for ``idx`` (B, T): a list of n_layer tensors
        (B, n_head, T, T) on the CPU; row i says how much position i looks at each position j."""
        with eval_mode(self):
            _, maps = self._run(idx.to(next(self.parameters()).device))
        return [m.cpu() for m in maps]

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Continue each row of ``idx`` (B, T) by ``max_new_tokens`` tokens, one at a time:
        x_{t+1} ~ p(· | x_1..x_t), the distribution sharpened by ``temperature`` and cut to
        the ``top_k`` most likely tokens and/or the nucleus of probability ``top_p``.
        ``temperature=0`` picks the most likely token (greedy). Returns (B, T + max_new_tokens).

        Runs in eval mode (no dropout) and leaves the model as it found it. Once the
        sequence is longer than block_size, the model sees the last block_size tokens.
        """
        if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be a non-negative int, got {max_new_tokens!r}.")
        if temperature < 0:
            raise ValueError(f"temperature must be ≥ 0 (0 = greedy), got {temperature}.")
        self._check_idx(idx, what="prompt")
        with eval_mode(self):
            idx = idx.to(next(self.parameters()).device)
            for _ in range(max_new_tokens):
                context = idx[:, -self.config.block_size:]  # (B, ≤ block_size)
                logits, _ = self(context)
                logits = logits[:, -1, :]  # (B, vocab): only the last position predicts the next token
                if temperature == 0:
                    next_id = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
                else:
                    logits = filter_logits(logits / temperature, top_k=top_k, top_p=top_p)
                    probs = logits.softmax(dim=-1)
                    next_id = torch.multinomial(probs.cpu(), 1, generator=generator).to(idx.device)  # (B, 1)
                idx = torch.cat([idx, next_id], dim=1)
        return idx


# --------------------------------------------------------------------------- sampling


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Set to -inf every logit outside the candidates that sampling may pick.

    * ``top_k``: keep the k largest logits of each row (Fan et al., 2018).
    * ``top_p``: nucleus sampling (Holtzman et al., 2020): sort the tokens by probability and
      keep the smallest set whose probabilities add up to at least p; the most likely token
      is always kept.

    Both may be given: top-k first, then top-p on the k survivors' renormalised
    probabilities (the order Hugging Face's transformers uses). ``logits``: (..., vocab).
    """
    vocab = logits.shape[-1]
    if top_k is not None:
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
            raise ValueError(f"top_k must be a positive int (or None), got {top_k!r}.")
        if top_k < vocab:
            kth = logits.topk(top_k, dim=-1).values[..., -1:]  # (..., 1): the k-th largest
            logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p!r}; 1 keeps every token.")
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        before = probs.cumsum(dim=-1) - probs  # probability of the tokens ranked above each one
        drop_sorted = before >= top_p  # the set already reached p without this token
        drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


# --------------------------------------------------------------------------- partial fine-tuning


def freeze_all_but_top(model: GPT, n_blocks: int = 1) -> int:
    """Freeze every parameter of ``model`` except its last ``n_blocks`` blocks, the final
    LayerNorm and the head, and return how many parameters are still trainable.

    A frozen parameter has ``requires_grad=False``: backpropagation computes no gradient
    for it and :func:`gankit.train.train_lm` gives it to no optimiser, so a fine-tune changes
    only the top of the model — fewer gradients to compute and store, and the pretrained
    lower layers stay as they were. ``n_blocks=0`` trains only the final LayerNorm and head.
    """
    n_layer = len(model.blocks)
    if not isinstance(n_blocks, int) or isinstance(n_blocks, bool) or not 0 <= n_blocks <= n_layer:
        raise ValueError(f"n_blocks must be an int from 0 to the model's {n_layer} blocks, got {n_blocks!r}.")
    top = [*model.blocks[n_layer - n_blocks:], model.ln_f, model.head]
    trainable = {id(p) for module in top for p in module.parameters()}
    for p in model.parameters():
        p.requires_grad_(id(p) in trainable)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
