# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The ONNX file contract between ``tips-ros export`` and the onnxruntime backend.

Graph input names, the opset, and the ``metadata_props`` keys (all string values) that
:mod:`tips_ros.engine.onnx_export` writes and :mod:`tips_ros.engine.onnx_backend` checks.
Kept apart from both so the backend does not import the exporter (which imports the engine).
"""

#: Version of the metadata layout below; the backend refuses files of another version.
FORMAT = "1"
#: ONNX opset of the exported graph (torch.onnx's dynamo exporter default).
OPSET = 18
PIXELS, QUERIES = "pixels", "queries"
#: Metadata keys (ONNX ``metadata_props``), all strings.
META_FORMAT = "tips_ros.format"
META_HEADS = "tips_ros.heads"  # comma-separated, in output order
META_INPUT_SIZE = "tips_ros.input_size"  # "H,W" pixels
META_BATCH = "tips_ros.batch"  # "dynamic" or a number
META_OPSET = "tips_ros.opset"
META_EMBEDDING_DIM = "tips_ros.embedding_dim"  # D of the queries input
META_PRECISION = "tips_ros.precision"  # fp32 | fp16 (weights and network)
META_VERSION = "tips_ros.version"  # tips_ros version that wrote the file
META_MODEL = "tips_ros.model"  # the model reference it was exported from
META_SPEC = "tips_ros.spec"  # ModelSpec.to_json(): class names under the key "labels"
