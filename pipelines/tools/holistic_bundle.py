"""Builds a Holistic Landmarker model bundle (``.task``) from the mediapipe 0.10.21 wheel's models.

MediaPipe's Tasks ``HolisticLandmarker`` reads a zip of seven-or-fewer ``.tflite`` files under
fixed names; each image model must carry TFLite metadata with its input normalisation. The
legacy ``mediapipe.solutions.holistic`` wheel (0.10.21) ships the same model families without
that metadata. This tool copies them out of the wheel, adds the input metadata that the legacy
graphs hard-code (``ImageToTensorCalculator`` float ranges) with MediaPipe's own metadata
writers, and zips them under the names the Tasks graph loads:

====================================  ==============================================  ==========
bundle name                           wheel file (mediapipe/modules/...)              input range
====================================  ==============================================  ==========
pose_detector.tflite                  pose_detection/pose_detection.tflite            [-1, 1]
pose_landmarks_detector.tflite        pose_landmark/pose_landmark_full.tflite         [0, 1]
face_detector.tflite                  face_detection/face_detection_short_range...    [-1, 1]
face_landmarks_detector.tflite        face_landmark/face_landmark.tflite              [0, 1]
hand_landmarks_detector.tflite        hand_landmark/hand_landmark_full.tflite         [0, 1]
hand_roi_refinement.tflite            holistic_landmark/hand_recrop.tflite            [0, 1]
====================================  ==============================================  ==========

The result is a test bundle with the legacy solution's weights (468-point face, no
blendshapes), so both backends can be compared on the same weights. It is not MediaPipe's
published ``holistic_landmarker.task``. Needs the current ``mediapipe`` (its
``mediapipe.tasks.python.metadata``) in the running interpreter; reads the wheel as a zip, so
it does not need the 0.10.21 wheel to be installable here.

Usage:
    pip download --no-deps mediapipe==0.10.21 -d wheels/
    python pipelines/tools/holistic_bundle.py --wheel wheels/mediapipe-0.10.21-*.whl --out holistic.task
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import zipfile
from pathlib import Path

# bundle name -> (path inside the wheel, normalisation mean, normalisation std): the legacy
# graphs feed [0, 255] pixels as (p - mean) / std.
MODELS = {
    "pose_detector.tflite": ("mediapipe/modules/pose_detection/pose_detection.tflite", 127.5, 127.5),
    "pose_landmarks_detector.tflite": ("mediapipe/modules/pose_landmark/pose_landmark_full.tflite", 0.0, 255.0),
    "face_detector.tflite": ("mediapipe/modules/face_detection/face_detection_short_range.tflite", 127.5, 127.5),
    "face_landmarks_detector.tflite": ("mediapipe/modules/face_landmark/face_landmark.tflite", 0.0, 255.0),
    "hand_landmarks_detector.tflite": ("mediapipe/modules/hand_landmark/hand_landmark_full.tflite", 0.0, 255.0),
    "hand_roi_refinement.tflite": ("mediapipe/modules/holistic_landmark/hand_recrop.tflite", 0.0, 255.0),
}


# The metadata written here (general info, one image input with NormalizationOptions and
# ImageProperties, plain outputs) needs no newer metadata parser than this; it is what
# mediapipe 0.10.21's ``GetMinimumMetadataParserVersion`` returns for it.
MIN_PARSER_VERSION = "1.0.0"


def _metadata_writer_module():
    """Imports MediaPipe's generic metadata writer.

    The current wheels (1.x) ship ``mediapipe.tasks.python.metadata`` but not the compiled
    ``_pywrap_metadata_version`` it imports; where that module is missing, a stand-in that
    returns :data:`MIN_PARSER_VERSION` is registered first.
    """
    import importlib
    import types

    name = "mediapipe.tasks.cc.metadata.python._pywrap_metadata_version"
    try:
        importlib.import_module(name)
    except ImportError:
        stub = types.ModuleType(name)
        stub.GetMinimumMetadataParserVersion = lambda buf: MIN_PARSER_VERSION
        for parent in ("mediapipe.tasks.cc", "mediapipe.tasks.cc.metadata", "mediapipe.tasks.cc.metadata.python"):
            sys.modules.setdefault(parent, types.ModuleType(parent))
        sys.modules[name] = stub
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer

    return metadata_writer


# Mesh points that stand in for the 10 iris points the legacy face model lacks (468-472 at the
# eye of mesh points 33/133, 473-477 at the eye of 263/362): the eyelid middle and the eye's
# contour. Real mesh points keep the box around all 478 points, from which the Tasks graph
# tracks the face into the next frame, equal to the box around the 468.
IRIS_STAND_INS = (159, 33, 159, 133, 145, 386, 263, 386, 362, 374)


def pad_face_mesh(model: bytes, points: int = 478) -> bytes:
    """Returns the 468-point face model with its landmark output extended to ``points``.

    The Tasks face graph decodes the first output tensor as 478 points of 3 values; the legacy
    model gives 468 x 3 = 1404 values, which it would read as 478 points of 2. TFLite ops
    appended to that output (``RESHAPE`` to (468, 3), ``GATHER`` of :data:`IRIS_STAND_INS`,
    ``RESHAPE``, ``CONCATENATION``) make it (1, 1, 1, 478 * 3): the 468 mesh points are the
    model's own, the 10 iris points repeat mesh points. Zeros there would put two points at
    the crop's corner, which enlarges the box the Tasks graph tracks the face with.
    """
    import flatbuffers
    import numpy as np
    from mediapipe.tasks.metadata import schema_py_generated as fb

    extra = points - 468
    if extra != len(IRIS_STAND_INS):
        raise SystemExit(f"face model: can add {len(IRIS_STAND_INS)} points, not {extra}")
    tflite = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(model, 0))
    graph = tflite.subgraphs[0]
    old_out = graph.outputs[0]
    shape = [int(d) for d in graph.tensors[old_out].shape]
    if shape[-1] != 468 * 3:
        raise SystemExit(f"face model: first output has shape {shape}, expected (..., {468 * 3})")

    def buffer(data: bytes | None) -> int:
        buf = fb.BufferT()
        if data is not None:
            buf.data = np.frombuffer(data, dtype=np.uint8)
        tflite.buffers.append(buf)
        return len(tflite.buffers) - 1

    def tensor(name: str, dims: list[int], dtype: int = fb.TensorType.FLOAT32, data: np.ndarray | None = None) -> int:
        t = fb.TensorT()
        t.name, t.shape, t.type = name.encode(), np.array(dims, dtype=np.int32), dtype
        t.buffer = buffer(None if data is None else data.tobytes())
        graph.tensors.append(t)
        return len(graph.tensors) - 1

    def op(code: int, inputs: list[int], output: int, options_type: int, options: object) -> None:
        codes = [
            i
            for i, c in enumerate(tflite.operatorCodes)
            if max(c.builtinCode, c.deprecatedBuiltinCode) == code and c.version == 1
        ]
        if not codes:
            c = fb.OperatorCodeT()
            c.builtinCode = c.deprecatedBuiltinCode = code
            c.version = 1
            tflite.operatorCodes.append(c)
            codes = [len(tflite.operatorCodes) - 1]
        o = fb.OperatorT()
        o.opcodeIndex = codes[0]
        o.inputs = np.array(inputs, dtype=np.int32)
        o.outputs = np.array([output], dtype=np.int32)
        o.builtinOptionsType, o.builtinOptions = options_type, options
        graph.operators.append(o)

    def reshape(src: int, dims: list[int], name: str) -> int:
        out = tensor(name, dims)
        options = fb.ReshapeOptionsT()
        options.newShape = np.array(dims, dtype=np.int32)
        shape_in = tensor(name + "_shape", [len(dims)], fb.TensorType.INT32, np.array(dims, dtype=np.int32))
        op(fb.BuiltinOperator.RESHAPE, [src, shape_in], out, fb.BuiltinOptions.ReshapeOptions, options)
        return out

    mesh = reshape(old_out, [468, 3], "face_mesh_points")
    index = tensor("face_iris_stand_in_index", [extra], fb.TensorType.INT32, np.array(IRIS_STAND_INS, dtype=np.int32))
    iris = tensor("face_iris_stand_ins", [extra, 3])
    gather = fb.GatherOptionsT()
    gather.axis = 0
    op(fb.BuiltinOperator.GATHER, [mesh, index], iris, fb.BuiltinOptions.GatherOptions, gather)
    iris_flat = reshape(iris, shape[:-1] + [extra * 3], "face_iris_flat")
    new_out = tensor("face_mesh_478", shape[:-1] + [points * 3])
    concat = fb.ConcatenationOptionsT()
    concat.axis = len(shape) - 1
    op(fb.BuiltinOperator.CONCATENATION, [old_out, iris_flat], new_out, fb.BuiltinOptions.ConcatenationOptions, concat)
    outputs = np.array(graph.outputs, dtype=np.int32)
    outputs[0] = new_out
    graph.outputs = outputs
    builder = flatbuffers.Builder(len(model) + 4096)
    builder.Finish(tflite.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def with_input_metadata(model: bytes, name: str, mean: float, std: float) -> bytes:
    """Returns ``model`` with TFLite metadata stating its RGB image input and normalisation."""
    metadata_writer = _metadata_writer_module()

    writer = metadata_writer.MetadataWriter.create(bytearray(model))
    writer.add_general_info(name, "from the mediapipe 0.10.21 wheel")
    writer.add_image_input(norm_mean=[mean], norm_std=[std])
    content, _ = writer.populate()
    return bytes(content)


def build_bundle(wheel: Path, out: Path) -> dict[str, int]:
    """Writes the bundle to ``out`` (atomically) and returns its file names and sizes."""
    from mediapipe.tasks.python.metadata.metadata_writers import model_asset_bundle_utils

    models = {}
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for bundle_name, (member, mean, std) in MODELS.items():
            if member not in names:
                raise SystemExit(f"{wheel}: has no {member} (is it the mediapipe 0.10.21 wheel?)")
            model = zf.read(member)
            if bundle_name == "face_landmarks_detector.tflite":
                model = pad_face_mesh(model)
            models[bundle_name] = with_input_metadata(model, bundle_name, mean, std)
    fd, tmp = tempfile.mkstemp(suffix=".task", dir=out.parent)
    os.close(fd)
    try:
        model_asset_bundle_utils.create_model_asset_bundle(models, tmp)
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise
    return {name: len(data) for name, data in models.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, required=True, help="the mediapipe==0.10.21 wheel file")
    parser.add_argument("--out", type=Path, required=True, help="the .task file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    args = parser.parse_args(argv)
    if not args.wheel.is_file():
        print(f"{args.wheel}: file not found", file=sys.stderr)
        return 1
    if args.out.exists() and not args.overwrite:
        print(f"{args.out}: exists (give --overwrite to replace it)", file=sys.stderr)
        return 1
    sizes = build_bundle(args.wheel, args.out)
    for name, size in sizes.items():
        print(f"{name}: {size} bytes")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
