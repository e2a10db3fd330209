# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Text-query embeddings for heatmaps: tokenise, encode once, cache.

A query such as ``"chair"`` becomes one L2-normalised vector in the space shared with the
vision tower's patch tokens (TIPSv2 has no projection layers). With prompt templates
(``"a photo of a {}."``) the embedding of each filled template is normalised, the template
embeddings are averaged and the mean is normalised again (the usual prompt ensemble).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch

from tips_ros.engine.loading import load_pretrained

#: Longest token sequence the TIPS text tower takes (longer prompts are truncated).
MAX_TOKENS = 64


class TextEncoder:
    """Encodes query lists into normalised embeddings, keeping an LRU cache per query set."""

    def __init__(
        self,
        ref: str,
        device: torch.device,
        dtype: torch.dtype = torch.float32,
        allow_pickle: bool = False,
        cache_size: int = 16,
    ) -> None:
        from transformers import Tipsv2TextModel, Tipsv2Tokenizer  # after the version check

        self.ref = ref
        self.device = device
        self.tokenizer = load_pretrained(Tipsv2Tokenizer, ref)
        self.model = load_pretrained(Tipsv2TextModel, ref, allow_pickle=allow_pickle,
                                     unused=("temperature",))  # the image-text scale
        self.model.to(device=device, dtype=dtype).eval()
        self.hidden_size: int = self.model.config.hidden_size
        self._cache: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self._cache_size = cache_size
        self.encode_calls = 0  # text-tower forward passes, for tests and diagnostics

    @torch.inference_mode()
    def encode(self, queries: Sequence[str], templates: Sequence[str] = ()) -> torch.Tensor:
        """Return a ``(len(queries), hidden_size)`` float32 tensor of unit vectors on the device.

        ``templates`` are format strings with one ``{}``; empty means the query text as is.
        Results are cached by ``(queries, templates)``.
        """
        key = (tuple(queries), tuple(templates))
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if not queries:
            embeddings = torch.zeros((0, self.hidden_size), device=self.device)
        else:
            forms = list(templates) or ["{}"]
            texts = [form.format(query) for query in queries for form in forms]
            tokens = self.tokenizer(
                texts, padding="max_length", truncation=True, max_length=MAX_TOKENS,
                return_tensors="pt",
            ).to(self.device)
            pooled = self.model(
                input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]
            ).pooler_output.float()
            self.encode_calls += 1
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
            mean = pooled.view(len(queries), len(forms), -1).mean(dim=1)
            embeddings = torch.nn.functional.normalize(mean, dim=-1)
        self._cache[key] = embeddings
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return embeddings
