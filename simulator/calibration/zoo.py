"""The models the harness measures, built from their transformers configurations with random weights.

No weights are downloaded (none can be, and weights do not change which kernels run or how long they take):
each recipe builds its model from a configuration, in evaluation mode, and makes inputs of a realistic shape
for a batch. torch and transformers are imported only when a recipe is built, so this module imports without
them.

A recipe's ``result`` picks the tensors a model server would send back (a classifier's logits, a detector's
class logits and boxes, an encoder's pooled embedding, a language model's next-token logits); their size is the
profile's ``output_bytes``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RECIPES", "ModelRecipe", "recipe"]

Inputs = dict[str, Any]


@dataclass(frozen=True)
class ModelRecipe:
    """How to build one model and feed it.

    Attributes:
        name: The model's name in profiles and scenario files.
        task: What it does (``image-classification``, ``object-detection``, ...).
        description: The configuration used and the input shape, for the profile's README.
        build: Returns the ``torch.nn.Module`` (random weights).
        make_inputs: ``(module, batch_size, device, dtype) -> keyword inputs``; floating inputs in ``dtype``.
        run: ``(module, inputs) -> outputs``; default ``module(**inputs)``.
        result: ``outputs -> tensors a server returns``; their bytes are ``output_bytes``.
        input_keys: The inputs that travel from the client (their bytes are ``input_bytes``); default all.
    """

    name: str
    task: str
    description: str
    build: Callable[[], Any]
    make_inputs: Callable[[Any, int, Any, Any], Inputs]
    run: Callable[[Any, Inputs], Any] = field(default=lambda module, inputs: module(**inputs))
    result: Callable[[Any], list[Any]] = field(default=lambda outputs: [outputs.logits])
    input_keys: tuple[str, ...] | None = None


def _classes(*names: str) -> Any:
    """Classes of transformers by name (imported here, typed loosely: transformers is optional)."""
    transformers: Any = importlib.import_module("transformers")
    classes = [getattr(transformers, name) for name in names]
    return classes if len(classes) > 1 else classes[0]


def _image_inputs(height: int, width: int) -> Callable[[Any, int, Any, Any], Inputs]:
    def make(module: Any, batch_size: int, device: Any, dtype: Any) -> Inputs:
        import torch

        generator = torch.Generator().manual_seed(0)
        pixels = torch.randn(batch_size, 3, height, width, generator=generator)
        return {"pixel_values": pixels.to(device=device, dtype=dtype)}

    return make


def _token_inputs(length: int, vocab: int) -> Callable[[Any, int, Any, Any], Inputs]:
    def make(module: Any, batch_size: int, device: Any, dtype: Any) -> Inputs:
        import torch

        generator = torch.Generator().manual_seed(0)
        ids = torch.randint(0, vocab, (batch_size, length), generator=generator)
        return {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device)}

    return make


def _resnet50() -> Any:
    ResNetConfig, ResNetForImageClassification = _classes("ResNetConfig", "ResNetForImageClassification")
    return ResNetForImageClassification(ResNetConfig(num_labels=1000))  # defaults: ResNet-50 (bottleneck 3-4-6-3)


def _mobilenet_v2() -> Any:
    MobileNetV2Config, MobileNetV2ForImageClassification = _classes(
        "MobileNetV2Config", "MobileNetV2ForImageClassification")
    return MobileNetV2ForImageClassification(MobileNetV2Config(num_labels=1001))  # width 1.0, 224 x 224


def _vit_b16() -> Any:
    ViTConfig, ViTForImageClassification = _classes("ViTConfig", "ViTForImageClassification")
    return ViTForImageClassification(ViTConfig(num_labels=1000))  # defaults: ViT-B/16 at 224 x 224


YOLOS_TINY = {"hidden_size": 192, "num_hidden_layers": 12, "num_attention_heads": 3, "intermediate_size": 768,
              "image_size": [512, 864], "num_detection_tokens": 100, "num_labels": 91}


def _yolos_tiny() -> Any:
    YolosConfig, YolosForObjectDetection = _classes("YolosConfig", "YolosForObjectDetection")
    return YolosForObjectDetection(YolosConfig(**YOLOS_TINY))


def _bert_base() -> Any:
    BertConfig, BertModel = _classes("BertConfig", "BertModel")
    return BertModel(BertConfig())  # defaults: BERT-base (12 layers, 768 hidden)


def _whisper_tiny() -> Any:
    WhisperConfig, WhisperForConditionalGeneration = _classes("WhisperConfig", "WhisperForConditionalGeneration")
    return WhisperForConditionalGeneration(WhisperConfig())  # defaults: whisper-tiny (4 + 4 layers, d 384)


def _whisper_inputs(module: Any, batch_size: int, device: Any, dtype: Any) -> Inputs:
    import torch

    generator = torch.Generator().manual_seed(0)
    features = torch.randn(batch_size, 80, 3000, generator=generator)  # 30 s of audio as log-mel frames
    start = torch.full((batch_size, 4), 50258, dtype=torch.long)  # start-of-transcript prompt tokens
    return {"input_features": features.to(device=device, dtype=dtype), "decoder_input_ids": start.to(device)}


def _whisper_result(outputs: Any) -> list[Any]:
    return [outputs.logits[:, -1]]


def _gpt2() -> Any:
    GPT2Config, GPT2LMHeadModel = _classes("GPT2Config", "GPT2LMHeadModel")
    return GPT2LMHeadModel(GPT2Config())  # defaults: GPT-2 small (124 M parameters)


def _last_logits(outputs: Any) -> list[Any]:
    return [outputs.logits[:, -1]]


def _gpt2_prefill(length: int) -> ModelRecipe:
    def run(module: Any, inputs: Inputs) -> Any:
        return module(**inputs, use_cache=True)

    return ModelRecipe(
        name=f"gpt2-prefill-{length}", task="text-generation-prefill",
        description=f"GPT2Config() (GPT-2 small), prefill of a {length}-token prompt (KV cache built)",
        build=_gpt2, make_inputs=_token_inputs(length, 50257), run=run, result=_last_logits,
    )


def _gpt2_decode(context: int) -> ModelRecipe:
    def make(module: Any, batch_size: int, device: Any, dtype: Any) -> Inputs:
        import torch

        prompt = _token_inputs(context, 50257)(module, batch_size, device, dtype)
        with torch.inference_mode():
            cache = module(**prompt, use_cache=True).past_key_values
        token = torch.zeros((batch_size, 1), dtype=torch.long, device=device)
        mask = torch.ones((batch_size, context + 1), dtype=torch.long, device=device)
        return {"input_ids": token, "attention_mask": mask, "past_key_values": cache}

    def run(module: Any, inputs: Inputs) -> Any:
        outputs = module(**inputs, use_cache=True)
        inputs["past_key_values"].crop(-1)  # drop the appended position: every step sees the same context
        return outputs

    return ModelRecipe(
        name=f"gpt2-decode-{context}", task="text-generation-decode",
        description=f"GPT2Config() (GPT-2 small), one decode step (one new token) after a {context}-token context",
        build=_gpt2, make_inputs=make, run=run, result=_last_logits, input_keys=("input_ids",),
    )


def _tiny_bert() -> Any:
    BertConfig, BertModel = _classes("BertConfig", "BertModel")
    return BertModel(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                vocab_size=1000, max_position_embeddings=64))


def _pooled(outputs: Any) -> list[Any]:
    return [outputs.pooler_output]


_RECIPES = [
    ModelRecipe("resnet50", "image-classification", "ResNetConfig() (ResNet-50), 3 x 224 x 224 images",
                _resnet50, _image_inputs(224, 224)),
    ModelRecipe("mobilenet-v2", "image-classification", "MobileNetV2Config() (width 1.0), 3 x 224 x 224 images",
                _mobilenet_v2, _image_inputs(224, 224)),
    ModelRecipe("vit-b16", "image-classification", "ViTConfig() (ViT-B/16), 3 x 224 x 224 images",
                _vit_b16, _image_inputs(224, 224)),
    ModelRecipe("yolos-tiny", "object-detection",
                "YolosConfig(hidden 192, 12 layers, 3 heads, 100 detection tokens) (YOLOS-Ti), 3 x 512 x 864 images",
                _yolos_tiny, _image_inputs(512, 864), result=lambda outputs: [outputs.logits, outputs.pred_boxes]),
    ModelRecipe("bert-base", "text-encoding", "BertConfig() (BERT-base), 128-token sequences, pooled embedding out",
                _bert_base, _token_inputs(128, 30522), result=_pooled),
    ModelRecipe("whisper-tiny", "speech-recognition",
                "WhisperConfig() (whisper-tiny), encoder over 30 s of audio (80 x 3000 log-mel) + one decoder "
                "pass over 4 prompt tokens", _whisper_tiny, _whisper_inputs, result=_whisper_result),
    _gpt2_prefill(32), _gpt2_prefill(128), _gpt2_prefill(256), _gpt2_decode(128), _gpt2_decode(512),
    ModelRecipe("tiny-bert", "text-encoding", "BertConfig(hidden 32, 2 layers), 16-token sequences (smoke tests)",
                _tiny_bert, _token_inputs(16, 1000), result=_pooled),
]

RECIPES: Mapping[str, ModelRecipe] = {recipe.name: recipe for recipe in _RECIPES}
"""Every model the harness can measure, by name."""


def recipe(name: str) -> ModelRecipe:
    """The recipe called ``name``; an unknown name raises ``KeyError`` listing the known ones."""
    try:
        return RECIPES[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(RECIPES)}") from None
