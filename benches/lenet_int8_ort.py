"""ONNX Runtime's own int8 LeNet-5, for the comparison with our int8 kernels.

Builds the f32 LeNet-5 trained by `lenet_mnist` (examples/firmware/lenet5.safetensors)
as an ONNX graph with onnx.helper, quantizes it with ONNX Runtime's `quantize_static`
(QDQ format, per-channel, int8 activations and weights, MinMax calibration on the same
512 training digits the Rust calibration uses), and

  --fixture DIR   writes DIR/ort_lenet5_int8.safetensors (the quantized parameters ORT
                  chose, in our file format: int8 weights, int32 biases, scales, zero points)
                  and DIR/ort_logits.json (ORT's int8 logits for the 2,000 held-out digits);
  --bench T       prints JSON: ORT's quantized model, median microseconds per run at batch 1
                  and batch 64 on T threads (and the f32 model's, for reference).

Setup: python3 -m venv /tmp/ort-venv && /tmp/ort-venv/bin/pip install numpy onnx onnxruntime safetensors
Run from the repository's root.
"""
import gzip, json, os, sys, time
import numpy as np
import onnx, onnxruntime as ort
from onnx import helper, TensorProto, numpy_helper
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
from safetensors.numpy import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEAN, STD = np.float32(0.13107428), np.float32(0.30868852)
CALIBRATION_DIGITS = 512


def idx_images(name):
    with gzip.open(os.path.join(ROOT, "data/mnist", name)) as f:
        data = f.read()
    n, h, w = np.frombuffer(data[4:16], dtype=">u4")
    return np.frombuffer(data[16:], dtype=np.uint8).reshape(n, 1, h, w)


def idx_labels(name):
    with gzip.open(os.path.join(ROOT, "data/mnist", name)) as f:
        return np.frombuffer(f.read()[8:], dtype=np.uint8)


def standardize(pixels):
    # Exactly the Rust side's f32 operations: p / 255, then (x - MEAN) / (STD + 1e-8).
    x = pixels.astype(np.float32) / np.float32(255.0)
    return ((x - MEAN) / (STD + np.float32(1e-8))).astype(np.float32)


def f32_model():
    w = load_file(os.path.join(ROOT, "examples/firmware/lenet5.safetensors"))
    inits = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in sorted(w.items())]
    N = helper.make_node
    nodes = [
        N("Conv", ["input", "conv1.weight", "conv1.bias"], ["conv1_z"], pads=[2, 2, 2, 2], kernel_shape=[5, 5]),
        N("Relu", ["conv1_z"], ["conv1_relu"]),
        N("MaxPool", ["conv1_relu"], ["conv1"], kernel_shape=[2, 2], strides=[2, 2]),
        N("Conv", ["conv1", "conv2.weight", "conv2.bias"], ["conv2_z"], kernel_shape=[5, 5]),
        N("Relu", ["conv2_z"], ["conv2_relu"]),
        N("MaxPool", ["conv2_relu"], ["conv2"], kernel_shape=[2, 2], strides=[2, 2]),
        N("Flatten", ["conv2"], ["flat"]),
        N("Gemm", ["flat", "fc1.weight", "fc1.bias"], ["fc1_z"], transB=1), N("Relu", ["fc1_z"], ["fc1"]),
        N("Gemm", ["fc1", "fc2.weight", "fc2.bias"], ["fc2_z"], transB=1), N("Relu", ["fc2_z"], ["fc2"]),
        N("Gemm", ["fc2", "fc3.weight", "fc3.bias"], ["fc3"], transB=1)]
    graph = helper.make_graph(nodes, "lenet5",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 1, 28, 28])],
        [helper.make_tensor_value_info("fc3", TensorProto.FLOAT, ["n", 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


class Digits(CalibrationDataReader):
    def __init__(self, x, batch=64):
        self.batches = iter([x[i:i + batch] for i in range(0, len(x), batch)])

    def get_next(self):
        b = next(self.batches, None)
        return None if b is None else {"input": b}


def quantized_model(tmp):
    f32_path, q_path = os.path.join(tmp, "lenet5_f32.onnx"), os.path.join(tmp, "lenet5_int8.onnx")
    onnx.save(f32_model(), f32_path)
    cal = standardize(idx_images("train-images-idx3-ubyte.gz")[:CALIBRATION_DIGITS])
    quantize_static(f32_path, q_path, Digits(cal), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    return f32_path, q_path


def session(path, threads):
    so = ort.SessionOptions(); so.intra_op_num_threads = threads; so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def params_in_our_format(q_path):
    """ORT's quantized parameters, named as cnn_spec::quant::file names them."""
    m = onnx.load(q_path)
    init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    qparams = {}  # activation tensor -> (scale, zero point), from its QuantizeLinear
    for n in m.graph.node:
        if n.op_type == "QuantizeLinear" and n.input[0] not in init:
            # Named after the tensor whose range set them (max-pool and flatten share
            # their input's: `conv1_relu_scale` serves conv1_relu, conv1 and flat).
            qparams[n.input[1][:-len("_scale")]] = (init[n.input[1]].astype(np.float32), init[n.input[2]])
    out = {"quant.scale": qparams["input"][0].reshape(()), "quant.zero_point": qparams["input"][1].reshape(())}
    for layer in ["conv1", "conv2", "fc1", "fc2", "fc3"]:
        out[f"{layer}.weight"] = init[f"{layer}.weight_quantized"].astype(np.int8)
        out[f"{layer}.weight_scale"] = init[f"{layer}.weight_scale"].astype(np.float32).reshape(-1)
        assert not np.any(init[f"{layer}.weight_zero_point"]), "symmetric weights"
        out[f"{layer}.bias"] = init[f"{layer}.bias_quantized"].astype(np.int32)
        s, z = qparams.get(f"{layer}_relu", qparams.get(layer))
        out[f"{layer}.scale"], out[f"{layer}.zero_point"] = s.reshape(()), z.reshape(()).astype(np.int8)
    shared = {t: (float(s), int(z)) for t, (s, z) in qparams.items()}
    return out, shared, [n.op_type for n in m.graph.node]


def fixture(directory):
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        _, q_path = quantized_model(tmp)
        tensors, shared, ops = params_in_our_format(q_path)
        save_file(tensors, os.path.join(directory, "ort_lenet5_int8.safetensors"),
                  metadata={"format": "cnn-int8", "version": "1",
                            "provenance": f"onnxruntime {ort.__version__} quantize_static (QDQ, per-channel, "
                                          f"QInt8/QInt8, MinMax) of examples/firmware/lenet5.safetensors "
                                          f"on the first {CALIBRATION_DIGITS} training digits; benches/lenet_int8_ort.py"})
        s = session(q_path, 1)
        x = standardize(idx_images("t2k-images-idx3-ubyte.gz"))
        y = s.run(None, {"input": x})[0]
        scale, zp = shared["fc3"]
        q = np.rint(y / np.float32(scale)).astype(np.int64) + zp
        assert np.array_equal((q - zp).astype(np.float32) * np.float32(scale), y), "logits are DQ(int8)"
        # What ORT ran after its graph optimisations (QDQ node groups fused into QLinear* ops).
        so = ort.SessionOptions(); so.optimized_model_filepath = os.path.join(tmp, "optimized.onnx")
        ort.InferenceSession(q_path, so, providers=["CPUExecutionProvider"])
        optimized = [n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node]
        with open(os.path.join(directory, "ort_logits.json"), "w") as f:
            json.dump({"onnxruntime": ort.__version__, "digits": int(len(x)),
                       "logit_scale": scale, "logit_zero_point": zp,
                       "activation_qparams": shared, "qdq_graph": ops, "executed_graph": optimized,
                       "int8_logits": q.astype(int).tolist()}, f, separators=(",", ":"))
    print(f"wrote {directory}/ort_lenet5_int8.safetensors and ort_logits.json; executed graph: {optimized}")


def bench(threads):
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        f32_path, q_path = quantized_model(tmp)
        x = standardize(idx_images("t2k-images-idx3-ubyte.gz")[:64])
        res = {"peer": "onnxruntime " + ort.__version__, "threads": threads}
        for name, path in [("int8", q_path), ("f32", f32_path)]:
            s = session(path, threads)
            def lat(a, n):
                for _ in range(n // 10): s.run(None, {"input": a})
                ts = []
                for _ in range(n):
                    t0 = time.perf_counter(); s.run(None, {"input": a}); ts.append(time.perf_counter() - t0)
                return float(np.median(ts)) * 1e6
            res[f"{name}_b1_us"] = lat(x[:1], 5000)
            res[f"{name}_b64_us"] = lat(x, 500)
        print(json.dumps(res))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--fixture"]:
        fixture(sys.argv[2])
    elif sys.argv[1:2] == ["--bench"]:
        bench(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    else:
        sys.exit(__doc__)
