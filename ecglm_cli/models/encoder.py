"""The variable-lead 1-D ResNet-18 ECG encoder and the classifier that wraps it.

Leads arrive as a fixed 12-row tensor in `STANDARD_LEADS` order plus a presence mask. Absent rows
are zeroed before the stem, so they add nothing to the convolution; a learned per-lead identity
vector is added for every present lead, so the network knows *which* leads it is looking at, and
the stem output is rescaled by 12 / (leads present) so that the activation scale does not depend
on how many leads are there. Any non-empty subset, in any order, uses the same weights.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import torch
from torch import nn
from torch.nn import functional as F

from ecglm_cli.io.leads import STANDARD_LEADS


@dataclass
class EncoderConfig:
    """Everything that defines the architecture and its input; saved as a bundle's config.json."""

    n_leads: int = len(STANDARD_LEADS)
    width: int = 64  # channels of the first stage; stages use width x (1, 2, 4, 8)
    kernel_size: int = 7
    blocks_per_stage: tuple[int, ...] = (2, 2, 2, 2)
    n_tokens: int = 8  # length of the feature sequence handed to the language model
    fs: float = 100.0  # model rate in Hz
    window_s: float = 5.0  # window length in seconds
    stride_s: float = 2.5  # hop between windows at inference
    dropout: float = 0.2
    label_counts: dict[str, int] = field(default_factory=dict)  # label space -> number of heads

    @property
    def window(self) -> int:
        return int(round(self.window_s * self.fs))

    @property
    def stride(self) -> int:
        return max(1, int(round(self.stride_s * self.fs)))

    @property
    def embed_dim(self) -> int:
        return self.width * 2 ** (len(self.blocks_per_stage) - 1)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["blocks_per_stage"] = list(self.blocks_per_stage)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> EncoderConfig:
        """Build from config.json; unknown keys are an error so a mismatched bundle fails early."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown architecture keys: {', '.join(sorted(unknown))}")
        data = dict(data)
        if "blocks_per_stage" in data:
            blocks = data["blocks_per_stage"]
            if not isinstance(blocks, list) or not 1 <= len(blocks) <= MAX_STAGES:
                raise ValueError(f"blocks_per_stage must list 1 to {MAX_STAGES} stages")
            data["blocks_per_stage"] = tuple(_bounded(b, 1, MAX_BLOCKS, "blocks_per_stage")
                                             for b in blocks)
        config = cls(**data)
        config.check()
        return config

    def check(self) -> None:
        """Refuse values no trained encoder has, before anything is built from them: a
        downloaded config.json is untrusted, and `blocks_per_stage` of a million allocated
        gigabytes of modules."""
        if self.n_leads != len(STANDARD_LEADS):
            raise ValueError(f"n_leads must be {len(STANDARD_LEADS)}")
        _bounded(self.width, 1, MAX_WIDTH, "width")
        if _bounded(self.kernel_size, 1, MAX_KERNEL, "kernel_size") % 2 == 0:
            raise ValueError("kernel_size must be odd (an even one shortens each convolution "
                             "by a sample, and the residual sum then fails)")
        _bounded(self.n_tokens, 1, MAX_TOKENS, "n_tokens")
        for name, low, high in (("fs", 25.0, 1000.0), ("window_s", 0.5, 60.0),
                                ("stride_s", 0.01, 60.0), ("dropout", 0.0, 1.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not low <= value <= high:
                raise ValueError(f"{name} must be a number from {low:g} to {high:g}")
        if not isinstance(self.label_counts, dict) or len(self.label_counts) > MAX_SPACES:
            raise ValueError(f"label_counts must map at most {MAX_SPACES} label spaces to sizes")
        for space, count in self.label_counts.items():
            _bounded(count, 1, MAX_LABELS, f"label_counts[{space!r}]")


# Far above any trained encoder (ecglm-base: width 64, 4 stages of 2 blocks, 8 tokens, 71 labels)
MAX_WIDTH, MAX_KERNEL, MAX_TOKENS, MAX_STAGES, MAX_BLOCKS = 1024, 63, 256, 8, 16
MAX_SPACES, MAX_LABELS = 16, 10_000


def _bounded(value: object, low: int, high: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}")
    return value


class BasicBlock(nn.Module):
    """Two same-width convolutions with a residual path (ResNet-18's block, in 1-D)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int):
        super().__init__()
        pad = kernel // 2
        self.conv1 = nn.Conv1d(c_in, c_out, kernel, stride, pad, bias=False)
        self.bn1 = nn.BatchNorm1d(c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel, 1, pad, bias=False)
        self.bn2 = nn.BatchNorm1d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv1d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm1d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ECGEncoder(nn.Module):
    """`forward(x [B,12,T], lead_mask [B,12] bool) -> (embedding [B,D], tokens [B,K,D])`."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        w = config.width
        self.stem = nn.Conv1d(config.n_leads, w, 15, stride=2, padding=7, bias=False)
        self.lead_identity = nn.Parameter(torch.zeros(config.n_leads, w))
        self.stem_norm = nn.BatchNorm1d(w)
        stages = []
        c_in = w
        for i, n_blocks in enumerate(config.blocks_per_stage):
            c_out = w * 2**i
            blocks = [BasicBlock(c_in, c_out, config.kernel_size, 1 if i == 0 else 2)]
            blocks += [BasicBlock(c_out, c_out, config.kernel_size, 1) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            c_in = c_out
        self.stages = nn.Sequential(*stages)

    def forward(
        self, x: torch.Tensor, lead_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        present = lead_mask.to(x.dtype)  # [B, 12]
        n_present = present.sum(dim=1).clamp(min=1.0)
        h = self.stem(x * present.unsqueeze(-1))
        h = h + (present @ self.lead_identity).unsqueeze(-1)
        h = h * (self.config.n_leads / n_present).view(-1, 1, 1)
        h = F.relu(self.stem_norm(h))
        h = F.max_pool1d(h, 3, stride=2, padding=1)
        h = self.stages(h)  # [B, D, T']
        embedding = h.mean(dim=-1)
        tokens = F.adaptive_avg_pool1d(h, self.config.n_tokens).transpose(1, 2)
        return embedding, tokens


class ECGClassifier(nn.Module):
    """The encoder with one linear multi-label head per label space (logits out)."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.encoder = ECGEncoder(config)
        self.dropout = nn.Dropout(config.dropout)
        self.heads = nn.ModuleDict(
            {space: nn.Linear(config.embed_dim, n) for space, n in config.label_counts.items()}
        )

    def forward(self, x: torch.Tensor, lead_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        embedding, _ = self.encoder(x, lead_mask)
        embedding = self.dropout(embedding)
        return {space: head(embedding) for space, head in self.heads.items()}
