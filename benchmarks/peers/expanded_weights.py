"""PyTorch peer for expanded weights between consecutive InceptionV1 layers (mixed3a -> mixed3b and the like).

Written from the method's published description (Olah et al., "Visualizing Weights", Distill 2020, and Captum's
circuits utilities): with rectifiers replaced by the identity and max-pooling by average pooling, the expanded weight
from source channel s to target channel t is the gradient of the target's centre position with respect to the
source map, cropped around the aligned position. Like Captum, it takes one autograd backward pass per target channel.

It reads the weights the C# side saved (safetensors, keys as the C# module paths, e.g. mixed3b.conv_3x3.weight),
times the whole loop over every target channel, and writes the weights (targets x sources x crop x crop, float32,
little-endian) so that the caller can check that both sides computed the same thing. Prints one JSON line.
"""
import argparse
import json
import struct
import time

import torch
import torch.nn.functional as F

# InceptionV1's layers from mixed3a on, with the stride-2 max-pools between them, and each layer's map size at 224 px.
LAYERS = ['mixed3a', 'mixed3b', 'maxpool4', 'mixed4a', 'mixed4b', 'mixed4c', 'mixed4d', 'mixed4e', 'maxpool10',
          'mixed5a', 'mixed5b']
MAP_SIZE = {'mixed3a': 28, 'mixed3b': 28, 'mixed4a': 14, 'mixed4b': 14, 'mixed4c': 14, 'mixed4d': 14,
            'mixed4e': 14, 'mixed5a': 7, 'mixed5b': 7}
DTYPES = {'F32': torch.float32, 'F64': torch.float64, 'F16': torch.float16, 'BF16': torch.bfloat16}


def load_safetensors(path):
    """The tensors of a safetensors file: an 8-byte little-endian header length, a JSON header, then the data."""
    with open(path, 'rb') as f:
        (length,) = struct.unpack('<Q', f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        start, end = info['data_offsets']
        flat = torch.frombuffer(bytearray(data[start:end]), dtype=DTYPES[info['dtype']])
        tensors[name] = flat.reshape(info['shape']).float()
    return tensors


def conv(x, w, name):
    """A convolution with TensorFlow-SAME padding for odd kernels at stride 1 (what the mixed layers use)."""
    weight, bias = w[name + '.weight'], w[name + '.bias']
    return F.conv2d(x, weight, bias, padding=weight.shape[-1] // 2)


def mixed(x, w, name):
    """A mixed layer with its ReLUs as the identity and its 3x3 max-pool as a 3x3 average (padding not counted)."""
    b1 = conv(x, w, name + '.conv_1x1')
    b3 = conv(conv(x, w, name + '.conv_3x3_bottleneck'), w, name + '.conv_3x3')
    b5 = conv(conv(x, w, name + '.conv_5x5_bottleneck'), w, name + '.conv_5x5')
    bp = conv(F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False), w, name + '.conv_pool_reduce')
    return torch.cat([b1, b3, b5, bp], 1)


def same_pool(x):
    """TensorFlow's SAME 3x3 stride-2 max-pool, linearized: its -inf padding becomes zero padding, the pool an average."""
    pads = []
    for size in (x.shape[3], x.shape[2]):
        total = max((((size + 1) // 2) - 1) * 2 + 3 - size, 0)
        pads += [total // 2, total - total // 2]
    return F.avg_pool2d(F.pad(x, pads), 3, stride=2)


def path(x, w, source, target):
    for layer in LAYERS[LAYERS.index(source) + 1:LAYERS.index(target) + 1]:
        x = same_pool(x) if layer.startswith('maxpool') else mixed(x, w, layer)
    return x


def expanded_weights(w, source, target, crop):
    """One backward pass per target channel from the target's centre to the whole source map, cropped."""
    size = MAP_SIZE[source]
    channels = w[source + '.conv_1x1.weight'].shape[0] + w[source + '.conv_3x3.weight'].shape[0] + \
        w[source + '.conv_5x5.weight'].shape[0] + w[source + '.conv_pool_reduce.weight'].shape[0]
    a = torch.zeros(1, channels, size, size, requires_grad=True)
    b = path(a, w, source, target)
    qy, qx = b.shape[2] // 2, b.shape[3] // 2
    py, px = int((qy + 0.5) * size / b.shape[2]), int((qx + 0.5) * size / b.shape[3])
    r = crop // 2
    out = torch.empty(b.shape[1], channels, crop, crop)
    for t in range(b.shape[1]):
        (grad,) = torch.autograd.grad(b[0, t, qy, qx], a, retain_graph=True)
        out[t] = grad[0, :, py - r:py + r + 1, px - r:px + r + 1]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--weights', required=True, help='safetensors file written by the C# side')
    parser.add_argument('--source', default='mixed3a')
    parser.add_argument('--target', default='mixed3b')
    parser.add_argument('--crop', type=int, default=5)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--out', help='write the weights here (float32, little-endian, targets x sources x crop x crop)')
    args = parser.parse_args()
    if args.source not in MAP_SIZE or args.target not in MAP_SIZE or LAYERS.index(args.target) <= LAYERS.index(args.source):
        parser.error(f'expected two mixed layers in order, from {sorted(MAP_SIZE)}; got {args.source} -> {args.target}')

    torch.set_num_threads(args.threads)
    w = load_safetensors(args.weights)
    weights = expanded_weights(w, args.source, args.target, args.crop)  # warm-up, and the result to compare
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        expanded_weights(w, args.source, args.target, args.crop)
        times.append((time.perf_counter() - start) * 1000)
    if args.out:
        weights.contiguous().numpy().astype('<f4').tofile(args.out)
    print(json.dumps({'peer': 'pytorch autograd loop, one backward per target channel', 'torch': torch.__version__,
                      'threads': args.threads, 'shape': list(weights.shape), 'median_ms': sorted(times)[len(times) // 2],
                      'times_ms': times}))


if __name__ == '__main__':
    main()
